"""Patterns in rules run in linear time (RE2); what RE2 cannot express is refused when saved."""

import re
import time

import pytest
from django.core.exceptions import ValidationError

from triggers import patterns
from triggers.evaluation import evaluate, validate_rules

# Each held a thread for seconds with Python's backtracking engine on a text of a few dozen characters.
HOSTILE = ["(.*a){12}x", "(a*){31}b", "(.*){31}z", "(a+)+$", "(a|aa)+$", "(a|a)*$", ".*.*.*=.*", r"(\d+)*$", "([a-z]+)+$"]
SUBJECTS = ["a" * 26, "a" * 30, "a" * 5000 + "!", "ab" * 4000]
# The bound the README reports: no hostile pattern holds a thread longer than this.
BOUND_SECONDS = 0.050
# A backtracking engine takes seconds on these texts every time; a busy host can stall any one
# call, so the best of a few tries is what the engine costs.
TRIES = 3


def _rules(pattern: str) -> dict:
    return {"match": "all", "rules": [{"path": "body", "op": "matches", "value": pattern}]}


def _best_seconds(rules: dict, subject: str) -> float:
    best = float("inf")
    for _ in range(TRIES):
        started = time.perf_counter()
        evaluate(rules=rules, payload={"body": subject})
        best = min(best, time.perf_counter() - started)
    return best


@pytest.mark.parametrize("pattern", HOSTILE)
def test_it_accepts_a_formerly_hostile_pattern_and_matches_it_within_50_ms(pattern):
    rules = validate_rules(_rules(pattern))
    for subject in SUBJECTS:
        assert _best_seconds(rules, subject) < BOUND_SECONDS, (pattern, len(subject))


@pytest.mark.parametrize(
    "pattern", [r"(a)\1", r"(?=a)b", r"(?<=a)b", r"(?<!a)b", r"a++", r"(?P<x>a)(?P=x)"]
)
def test_it_refuses_what_the_linear_engine_cannot_express_with_the_reason(pattern):
    with pytest.raises(ValidationError) as caught:
        validate_rules(_rules(pattern))
    message = " ".join(caught.value.messages)
    assert "backreferences, lookahead, lookbehind and possessive repeats are not supported" in message


@pytest.mark.parametrize("pattern", [r"^[A-Z]{2}-\d+$", "vip|gold", r"(foo|bar)+", r"^\S+@\S+$", r"(?i)^order", r"\bsale\b"])
def test_it_matches_ordinary_patterns_as_python_would(pattern):
    for subject in ["AB-123", "gold member", "foobar", "a@b", "Order 5", "big sale today", "nothing"]:
        assert _matches(pattern, subject) == _python_matches(pattern, subject)


@pytest.mark.parametrize(
    "pattern, subject",
    [(r"^.{4}$", "café"), (r"^.{4}$", "cafés"), ("(?i)^émile", "Émile Zola"), ("ü+$", "Müü"), (r"^\S+ \S$", "naïve ☕"), ("☕", "tea")],
)
def test_it_counts_and_folds_characters_not_bytes_as_python_would(pattern, subject):
    assert _matches(pattern, subject) == _python_matches(pattern, subject)


def _matches(pattern: str, subject: str) -> bool:
    return patterns.search(patterns.compiled(pattern), subject)


def _python_matches(pattern: str, subject: str) -> bool:
    return re.search(pattern, subject) is not None


def test_it_refuses_long_and_malformed_patterns():
    assert "200 characters" in patterns.problem("a" * 201)
    assert "not a regular expression" in patterns.problem("(unclosed")
    assert patterns.problem("x{1001}")


def test_it_matches_text_holding_a_lone_surrogate():
    rules = validate_rules(_rules("^a.b$"))
    assert evaluate(rules=rules, payload={"body": "a\ud800b"}).matched
