"""Rules over an event payload: validation at save time and a pure evaluation with reasons.

A rule set is ``{"match": "all" | "any", "rules": [rule, ...]}``. A rule is a condition
``{"path": "order.total", "op": "gt", "value": 50}`` or a group ``{"match": ..., "rules": [...]}``
of conditions: one level of nesting. Nothing here touches the database, so the same code runs
when an event arrives, in the "test with a payload" box and in the benchmark.

Comparisons never raise. A rule about a field the payload does not have is false (except
``exists``); numbers compare numerically whenever both sides read as numbers, so ``"12"`` equals
``12``; other type mismatches are false with the reason spelled out.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError

from . import patterns
from .patterns import MAX_SUBJECT_CHARS

OPERATORS: dict[str, str] = {
    "equals": "equals",
    "not_equals": "does not equal",
    "contains": "contains",
    "gt": "greater than",
    "lt": "less than",
    "in": "is one of",
    "exists": "exists",
    "matches": "matches the regular expression",
}
OPERATOR_SYMBOLS = {"equals": "=", "not_equals": "≠", "gt": ">", "lt": "<"}
MATCH_MODES = ("all", "any")
MAX_RULES = 50
MAX_PATH_CHARS = 200
MAX_LIST_VALUES = 200
MAX_VALUE_CHARS = 1000

_MISSING = object()
_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?")
_INTEGER = re.compile(r"-?[0-9]+")


# Results -------------------------------------------------------------------------------------


@dataclass(slots=True)
class RuleResult:
    """One condition or group, whether it held and why, in words a marketer reads."""

    matched: bool
    reason: str
    path: str = ""
    op: str = ""
    value: Any = None
    match: str = ""
    rules: tuple[RuleResult, ...] = ()

    @property
    def is_group(self) -> bool:
        return bool(self.match)

    def as_dict(self) -> dict:
        if self.is_group:
            return {
                "match": self.match,
                "matched": self.matched,
                "reason": self.reason,
                "rules": [rule.as_dict() for rule in self.rules],
            }
        return {"path": self.path, "op": self.op, "value": self.value, "matched": self.matched, "reason": self.reason}


# One encoder for every decision stored: json.dumps with options builds one per call. A decision
# is made of fresh dicts and lists, never circular.
_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


class Decision:
    """Whether an event matched, and why.

    The reasons (``rules``, ``summary``) are built only when they are read, when the decision is
    stored or shown: most evaluations are thrown away as soon as their answer is known. A
    decision from ``compile_rules`` explains itself by evaluating the rules again with reasons;
    both paths are the same rules over the same payload, which the tests hold them to.
    """

    __slots__ = ("matched", "match", "_rules", "_summary", "_source", "compiled")

    def __init__(
        self,
        matched: bool,
        match: str,
        rules: tuple[RuleResult, ...] = (),
        summary: str = "",
        *,
        source: tuple[CompiledRules, Any] | None = None,
    ) -> None:
        self.matched = matched
        self.match = match
        self._rules = rules
        self._summary = summary
        # (compiled rules, payload) still to be explained, or None once the reasons are known.
        self._source = source
        # The rules it came from when they were compiled (events store their digest: stored()).
        self.compiled = source[0] if source is not None else None

    def _explained(self) -> None:
        if self._source is not None:
            compiled, payload = self._source
            _, _, self._rules, self._summary = explain(rules=compiled.rules, payload=payload)
            self._source = None

    @property
    def rules(self) -> tuple[RuleResult, ...]:
        self._explained()
        return self._rules

    @property
    def summary(self) -> str:
        self._explained()
        return self._summary

    def as_dict(self) -> dict:
        return {
            "matched": self.matched,
            "match": self.match,
            "summary": self.summary,
            "rules": [rule.as_dict() for rule in self.rules],
        }

    def as_json(self) -> str:
        """``as_dict()`` as the JSON text stored with the event. Compiled rules write it
        directly (``CompiledRules.explained_json``), without the RuleResults and dicts between."""
        if self._source is not None:
            compiled, payload = self._source
            text = compiled.explained_json(payload)
            if text is not None:
                return text
        return _COMPACT_JSON(self.as_dict())

    def stored(self) -> dict:
        """The decision as an event keeps it: see ``stored_json``."""
        return json.loads(self.stored_json()) if self.compiled is not None else self.as_dict()

    def stored_json(self) -> str:
        """The decision as an event keeps it, as JSON text. One from compiled rules keeps its
        answer and the digest of its rules (``CompiledRules.digest``; the caller keeps the rules
        under it, ``TriggerRuleSet``), and its reasons are worked out again when it is shown
        (``shown``): the same rules over the same payload give the same words, and writing them
        out for every event cost more than the rest of the intake. Others keep their reasons."""
        if self.compiled is not None:
            return self.compiled.stored_json(self.matched)
        return self.as_json()

    def __repr__(self) -> str:
        return f"Decision(matched={self.matched!r}, match={self.match!r})"


def rules_digest(rules: dict) -> str:
    """Names a rule set: the same rules give the same digest in every process and every run."""
    canonical = json.dumps(rules, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


# What a stored decision holds instead of its reasons (Decision.stored_json).
RULE_SET_KEY = "rule_set"
RULES_GONE = "The rules this event was checked against are no longer kept, so its reasons cannot be shown."


def shown(stored: dict, *, payload: Any, rules: dict | None) -> dict:
    """A stored decision as ``Decision.as_dict`` gives it, for showing: as stored, or, for one
    stored by its rules' digest, worked out again from ``rules`` (those the digest names, None
    when they are not kept) and the event's ``payload``."""
    if not isinstance(stored, dict) or RULE_SET_KEY not in stored:
        return stored
    if rules is None:
        return {"matched": bool(stored.get("matched")), "match": stored.get("match", "all"), "summary": RULES_GONE, "rules": []}
    return evaluate(rules=rules, payload=payload).as_dict()


class _Unexplained(Decision):
    """A compiled rule set's decision: only its answer is set, the reasons once asked for
    (``_explained`` sets them). Made a thousand times per event against a thousand triggers,
    where Decision's keyword arguments and five assignments were a fifth of the evaluation."""

    __slots__ = ()

    def __init__(self, matched: bool, match: str, source: tuple[CompiledRules, Any]) -> None:
        self.matched = matched
        self.match = match
        self._source = source
        self.compiled = source[0]


# Showing values ------------------------------------------------------------------------------


_PLAIN_TEXT = re.compile(r'[^"\\\x00-\x1f\x7f-\x9f\u2028\u2029]*')


def show(value: Any, limit: int = 60) -> str:
    """A value as JSON, shortened: ``12``, ``"vip"``, ``["a", "b"]``."""
    kind = type(value)
    # Fast paths for the common values; json.dumps costs more than the whole comparison.
    if kind is int and -(10**15) < value < 10**15:
        return str(value)
    if kind is str and len(value) <= limit - 2 and _PLAIN_TEXT.fullmatch(value):
        return f'"{value}"'
    if kind is float and math.isfinite(value) and 1e-4 < abs(value) < 1e15:
        return repr(value)
    if kind is list and len(value) <= 8 and all(type(item) is str and _PLAIN_TEXT.fullmatch(item) for item in value):
        text = "[" + ", ".join(f'"{item}"' for item in value) + "]"
        if len(text) <= limit:
            return text
    try:
        text = json.dumps(value, ensure_ascii=False, default=str)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


# Comparisons ---------------------------------------------------------------------------------


def resolve(payload: Any, path: str) -> Any:
    """The value at a dotted path (``order.items.0.sku``), or ``_MISSING``."""
    current = payload
    for part in path.split("."):
        if isinstance(current, dict):
            current = current.get(part, _MISSING)
        elif isinstance(current, list) and part.isdecimal():
            index = int(part)
            current = current[index] if index < len(current) else _MISSING
        else:
            return _MISSING
        if current is _MISSING:
            return _MISSING
    return current


def as_number(value: Any) -> int | float | None:
    """The number a value stands for, or None: 12, 12.5, "12", " 1e3 ", but never true or "NaN"."""
    kind = type(value)
    if kind is int:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if kind is str:
        if not value or value[0] not in "0123456789-. ":
            return None
        if value.isdigit() and value.isascii() and len(value) <= 100:  # what _INTEGER reads, found without it
            return int(value)
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str) and len(value) <= 100:
        text = value.strip()
        if not text or text[0] not in "0123456789-.":
            return None
        if _INTEGER.fullmatch(text):
            return int(text)
        if _NUMBER.fullmatch(text):
            number = float(text)
            return number if math.isfinite(number) else None
    return None


def _as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def equal(actual: Any, expected: Any) -> bool:
    """Loose equality for payload values against rule values typed into a form."""
    a_number, e_number = as_number(actual), as_number(expected)
    if a_number is not None and e_number is not None:
        return a_number == e_number
    if isinstance(actual, bool) or isinstance(expected, bool):
        a_bool, e_bool = _as_bool(actual), _as_bool(expected)
        return a_bool is not None and a_bool == e_bool
    if actual is None or expected is None:
        return (actual is None or actual == "null") and (expected is None or expected == "null")
    if isinstance(actual, str) and isinstance(expected, str):
        return actual == expected
    if type(actual) is not type(expected):
        return False
    return actual == expected


def _condition(payload: Any, rule: dict) -> RuleResult:
    path, op = str(rule.get("path", "")), str(rule.get("op", ""))
    expected = rule.get("value")
    here = f"`{path}`"

    def result(matched: bool, reason: str) -> RuleResult:
        return RuleResult(matched, reason, path, op, expected)

    if op not in OPERATORS:
        return result(False, f"{here}: unknown operator {show(op)}")
    actual = resolve(payload, path) if path else _MISSING

    if op == "exists":
        wanted = _as_bool(expected) if expected is not None else True
        present = actual is not _MISSING
        if wanted is False:
            return result(not present, f"{here} was missing" if not present else f"{here} was {show(actual)}, needed it missing")
        return result(present, f"{here} exists (was {show(actual)})" if present else f"{here} was missing")

    if actual is _MISSING:
        return result(False, f"{here} was missing")
    was = f"{here} was {show(actual)}"

    if op in ("equals", "not_equals"):
        same = equal(actual, expected)
        if op == "equals":
            return result(same, f"{was}, = {show(expected)}" if same else f"{was}, needed {show(expected)}")
        return result(not same, f"{was}, ≠ {show(expected)}" if not same else f"{was}, needed anything but {show(expected)}")

    if op in ("gt", "lt"):
        symbol = OPERATOR_SYMBOLS[op]
        a_number, e_number = as_number(actual), as_number(expected)
        if a_number is not None and e_number is not None:
            held = a_number > e_number if op == "gt" else a_number < e_number
        elif isinstance(actual, str) and isinstance(expected, str):
            # Text against text compares alphabetically, which orders ISO dates correctly.
            held = actual > expected if op == "gt" else actual < expected
        else:
            return result(False, f"{was} ({_kind(actual)}), cannot compare with {symbol} {show(expected)}")
        return result(held, f"{was}, {symbol} {show(expected)}" if held else f"{was}, needed {symbol} {show(expected)}")

    if op == "contains":
        if isinstance(actual, str):
            needle = expected if isinstance(expected, str) else show(expected)
            held = needle in actual
        elif isinstance(actual, list):
            held = any(equal(item, expected) for item in actual)
        elif isinstance(actual, dict):
            held = isinstance(expected, str) and expected in actual
        else:
            return result(False, f"{was} ({_kind(actual)}), contains needs text, a list or an object")
        return result(held, f"{here} contains {show(expected)}" if held else f"{was}, needed it to contain {show(expected)}")

    if op == "in":
        if not isinstance(expected, list):
            return result(False, f"{here}: the rule's value is not a list")
        if isinstance(actual, (list, dict)):
            return result(False, f"{was} ({_kind(actual)}), needed a single value")
        held = any(equal(actual, option) for option in expected)
        return result(held, f"{was}, one of {show(expected)}" if held else f"{was}, needed one of {show(expected)}")

    # matches
    if not isinstance(expected, str):
        return result(False, f"{here}: the rule's pattern is not text")
    compiled = patterns.compiled(expected)
    if isinstance(compiled, str):
        return result(False, f"{here}: invalid pattern ({compiled})")
    if isinstance(actual, bool) or actual is None or isinstance(actual, (list, dict)):
        return result(False, f"{was} ({_kind(actual)}), matches needs text")
    subject = actual if isinstance(actual, str) else show(actual)
    cut = len(subject) > MAX_SUBJECT_CHARS
    held = patterns.search(compiled, subject)
    note = f" (first {MAX_SUBJECT_CHARS:,} characters)" if cut else ""
    return result(held, f"{was}, matches /{expected}/{note}" if held else f"{was}, needed to match /{expected}/{note}")


def _combine(match: str, results: list[RuleResult]) -> tuple[bool, str]:
    return _verdict(match, sum(1 for r in results if r.matched), len(results))


def _verdict(match: str, held: int, total: int) -> tuple[bool, str]:
    """Whether ``held`` of ``total`` rules satisfy ``match``, and the reason."""
    if match == "any":
        matched = held > 0
        if matched:
            return True, f"{held} of {total} matched, needed any"
        return False, f"none of {total} matched, needed any"
    matched = held == total
    if matched:
        return True, {1: "the rule matched", 2: "both matched"}.get(total, f"all {total} matched")
    return False, f"{held} of {total} matched, needed all"


def _evaluate_list(payload: Any, match: str, rules: list, depth: int) -> tuple[bool, str, tuple[RuleResult, ...]]:
    results: list[RuleResult] = []
    for rule in rules:
        if not isinstance(rule, dict):
            results.append(RuleResult(matched=False, reason=f"not a rule: {show(rule)}"))
        elif "rules" in rule:
            sub_match = rule.get("match") if rule.get("match") in MATCH_MODES else "all"
            if depth >= 2 or not isinstance(rule["rules"], list):
                results.append(RuleResult(matched=False, reason="groups nest one level at most", match=sub_match))
                continue
            matched, reason, children = _evaluate_list(payload, sub_match, rule["rules"], depth + 1)
            results.append(RuleResult(matched=matched, reason=reason, match=sub_match, rules=children))
        else:
            results.append(_condition(payload, rule))
    matched, reason = _combine(match, results)
    return matched, reason, tuple(results)


def explain(*, rules: dict | None, payload: Any) -> tuple[bool, str, tuple[RuleResult, ...], str]:
    """Evaluates ``rules`` with every rule's reason: (matched, match mode, results, summary)."""
    if not rules or not rules.get("rules"):
        return True, "all", (), "No rules: every event matches."
    match = rules.get("match") if rules.get("match") in MATCH_MODES else "all"
    items = rules["rules"] if isinstance(rules["rules"], list) else []
    matched, reason, results = _evaluate_list(payload, match, items, depth=1)
    if matched:
        summary = f"Matched: {reason}."
    else:
        failing = [
            reason
            for r in results
            if not r.matched
            for reason in ([c.reason for c in r.rules if not c.matched] or [r.reason] if r.is_group else [r.reason])
        ]
        summary = f"Not matched ({reason}): " + "; ".join(failing[:3]) + ("; …" if len(failing) > 3 else "") + "."
    return matched, match, results, summary


def evaluate(*, rules: dict | None, payload: Any) -> Decision:
    """Whether ``payload`` satisfies ``rules``, with each rule's result and the reason.

    No rules means every payload matches (an event trigger). Never raises, whatever the inputs.
    Evaluating the same rules many times? ``compile_rules`` once, then call what it returns.
    """
    return compile_rules(rules)(payload)


# Compiled rules ------------------------------------------------------------------------------
#
# A rule set turned into nested closures once, when a trigger's rules are loaded: paths split,
# numbers parsed, patterns compiled and the operator chosen ahead of time, so an event pays only
# for reading its fields and comparing. Each closure answers what ``_condition`` and
# ``_evaluate_list`` answer, without the words; the words come from them when asked for.

Test = Callable[[Any], bool]


def _never(payload: Any) -> bool:
    return False


def _always(payload: Any) -> bool:
    return True


def _getter(path: str) -> Callable[[Any], Any]:
    """``resolve(payload, path)`` with the path split once; paths of one or two keys unrolled."""
    parts = path.split(".")
    if len(parts) == 1:
        (key,) = parts

        def get_one(payload: Any) -> Any:
            if type(payload) is dict:
                return payload.get(key, _MISSING)
            return resolve(payload, path)

        return get_one
    if len(parts) == 2:
        first, second = parts

        def get_two(payload: Any) -> Any:
            if type(payload) is dict:
                middle = payload.get(first, _MISSING)
                if type(middle) is dict:
                    return middle.get(second, _MISSING)
                if middle is _MISSING:
                    return _MISSING
            return resolve(payload, path)

        return get_two
    steps = [(part, int(part) if part.isdecimal() else None) for part in parts]

    def get(payload: Any) -> Any:
        current = payload
        for part, index in steps:
            if isinstance(current, dict):
                current = current.get(part, _MISSING)
                if current is _MISSING:
                    return _MISSING
            elif index is not None and isinstance(current, list):
                if index >= len(current):
                    return _MISSING
                current = current[index]
            else:
                return _MISSING
        return current

    return get


def _plain_text(value: Any) -> bool:
    """Text that equals only the same text under ``equal``: not a number, true/false or null."""
    return (
        type(value) is str
        and as_number(value) is None
        and _as_bool(value) is None
        and value != "null"
    )


def _equal_to(expected: Any) -> Test:
    """``lambda actual: equal(actual, expected)``, with ``expected`` read once."""
    if _plain_text(expected):
        # equal() then reduces to text equality: numbers, booleans and null never equal such text.
        return lambda actual: type(actual) is str and actual == expected
    e_number = as_number(expected)
    if e_number is not None and not isinstance(expected, bool):

        def equal_number(actual: Any) -> bool:
            a_number = as_number(actual)
            if a_number is not None:
                return a_number == e_number
            return equal(actual, expected)

        return equal_number
    return lambda actual: equal(actual, expected)


def _compile_condition(rule: dict) -> Test:
    path, op = str(rule.get("path", "")), str(rule.get("op", ""))
    expected = rule.get("value")
    if op not in OPERATORS or not path:
        # An unknown operator is false; no path is missing, true only for "exists … false".
        if op == "exists" and expected is not None and _as_bool(expected) is False:
            return _always
        return _never
    get = _getter(path)

    if op == "exists":
        wanted = _as_bool(expected) if expected is not None else True
        if wanted is False:
            return lambda payload: get(payload) is _MISSING
        return lambda payload: get(payload) is not _MISSING

    if op in ("equals", "not_equals"):
        same = _equal_to(expected)
        if op == "equals":

            def equals(payload: Any) -> bool:
                actual = get(payload)
                return actual is not _MISSING and same(actual)

            return equals

        def not_equals(payload: Any) -> bool:
            actual = get(payload)
            return actual is not _MISSING and not same(actual)

        return not_equals

    if op in ("gt", "lt"):
        e_number = as_number(expected)
        greater = op == "gt"
        text = isinstance(expected, str)

        def compare(payload: Any) -> bool:
            actual = get(payload)
            if actual is _MISSING:
                return False
            if e_number is not None:
                a_number = as_number(actual)
                if a_number is not None:
                    return a_number > e_number if greater else a_number < e_number
            if text and isinstance(actual, str):
                return actual > expected if greater else actual < expected
            return False

        return compare

    if op == "contains":
        needle = expected if isinstance(expected, str) else show(expected)
        item_equals = _equal_to(expected)
        key = expected if isinstance(expected, str) else None

        def contains(payload: Any) -> bool:
            actual = get(payload)
            if isinstance(actual, str):
                return needle in actual
            if isinstance(actual, list):
                for item in actual:  # a loop: any() over a generator cost as much as the rest of the test
                    if item_equals(item):
                        return True
                return False
            if isinstance(actual, dict):
                return key is not None and key in actual
            return False

        return contains

    if op == "in":
        if not isinstance(expected, list):
            return _never
        if all(_plain_text(option) for option in expected):
            options = frozenset(expected)

            def one_of_text(payload: Any) -> bool:
                actual = get(payload)
                return type(actual) is str and actual in options

            return one_of_text
        tests = [_equal_to(option) for option in expected]

        def one_of(payload: Any) -> bool:
            actual = get(payload)
            if actual is _MISSING or isinstance(actual, (list, dict)):
                return False
            return any(test(actual) for test in tests)

        return one_of

    # matches
    if not isinstance(expected, str):
        return _never
    pattern = patterns.compiled(expected)
    if isinstance(pattern, str):
        return _never

    def matches(payload: Any) -> bool:
        actual = get(payload)
        if actual is _MISSING or isinstance(actual, bool) or actual is None or isinstance(actual, (list, dict)):
            return False
        return patterns.search(pattern, actual if isinstance(actual, str) else show(actual))

    return matches


def _compile_list(match: str, rules: list, depth: int) -> Test:
    tests: list[Test] = []
    for rule in rules:
        if not isinstance(rule, dict):
            tests.append(_never)
        elif "rules" in rule:
            if depth >= 2 or not isinstance(rule["rules"], list):
                tests.append(_never)
            else:
                sub_match = rule.get("match") if rule.get("match") in MATCH_MODES else "all"
                tests.append(_compile_list(sub_match, rule["rules"], depth + 1))
        else:
            tests.append(_compile_condition(rule))
    if len(tests) == 1:
        return tests[0]
    if match == "any":

        def any_of(payload: Any) -> bool:
            for test in tests:
                if test(payload):
                    return True
            return False

        return any_of

    def all_of(payload: Any) -> bool:
        for test in tests:
            if not test(payload):
                return False
        return True

    return all_of


class CompiledRules:
    """A rule set ready to evaluate many events: ``compiled(payload) -> Decision``."""

    __slots__ = ("rules", "match", "_test", "_explainer", "_digest", "_stored", "kept_for")

    def __init__(self, rules: dict | None) -> None:
        self.rules = rules
        self._explainer: Callable[[Any], str] | None = None
        self._digest: str | None = None
        self._stored: tuple[str, str] | None = None
        # The trigger whose TriggerRuleSet holds these rules, once its caller has made sure.
        self.kept_for: int | None = None
        if not rules or not rules.get("rules"):
            self.match, self._test = "all", None
            return
        self.match = rules.get("match") if rules.get("match") in MATCH_MODES else "all"
        items = rules["rules"] if isinstance(rules["rules"], list) else []
        self._test = _compile_list(self.match, items, depth=1)

    def __call__(self, payload: Any) -> Decision:
        if self._test is None:
            return Decision(matched=True, match="all", summary="No rules: every event matches.")
        return _Unexplained(self._test(payload), self.match, (self, payload))

    @property
    def digest(self) -> str:
        """``rules_digest(self.rules)``, worked out once (a benign race between threads)."""
        if self._digest is None:
            self._digest = rules_digest(self.rules)
        return self._digest

    def stored_json(self, matched: bool) -> str:
        """``Decision.stored_json`` for a decision of these rules: the same two texts for every event."""
        texts = self._stored
        if texts is None:
            # Made once (a benign race between threads: both are the same).
            tail = f'"match":"{self.match}","{RULE_SET_KEY}":"{self.digest}"}}'
            texts = self._stored = ('{"matched":false,' + tail, '{"matched":true,' + tail)
        return texts[matched]

    def explained_json(self, payload: Any) -> str | None:
        """The JSON text of the decision with its reasons for ``payload``, as ``Decision.as_json``
        stores it; None for rules whose values JSON cannot hold (the caller then fails as before)."""
        explainer = self._explainer
        if explainer is None:
            # Compiled when first asked for (a benign race between threads: both are the same).
            explainer = self._explainer = _compile_explanation(self.match, self.rules)
        return explainer(payload)


# Compiled explanations -----------------------------------------------------------------------
#
# What ``explain`` says, compiled like the tests above and written straight as the JSON text that
# ``Decision.as_json`` stores: each condition's words that do not depend on the event (the path,
# the rule's value shown, the sentence's ends) worked out once, and each rule's JSON keys and value
# encoded once. The words are ``_condition``'s and ``_evaluate_list``'s, written a second time;
# a test holds the two to the same text over random rule sets and payloads.
#
# A node answers (matched, reason, JSON text, the reasons the summary lists when it failed).

Node = Callable[[Any], tuple[bool, str, str, list[str]]]
_text = json.encoder.encode_basestring  # a str as JSON text, as _COMPACT_JSON writes it (ensure_ascii off)


def _constant(matched: bool, reason: str, text: str) -> Node:
    answer = (matched, reason, text, [reason])
    return lambda payload: answer


def _condition_words(path: str, op: str, expected: Any) -> Callable[[Any], tuple[bool, str]] | tuple[bool, str]:
    """``_condition``'s (matched, reason) for ``rule``, as a function of the payload, or the
    answer itself when the payload cannot change it."""
    here = f"`{path}`"
    if op not in OPERATORS:
        return False, f"{here}: unknown operator {show(op)}"
    get = _getter(path) if path else (lambda payload: _MISSING)
    missing = (False, f"{here} was missing")
    was = f"{here} was "
    shown = show(expected)

    if op == "exists":
        wanted = _as_bool(expected) if expected is not None else True
        if wanted is False:

            def absent(payload: Any) -> tuple[bool, str]:
                actual = get(payload)
                if actual is _MISSING:
                    return True, missing[1]
                return False, f"{was}{show(actual)}, needed it missing"

            return absent

        def present(payload: Any) -> tuple[bool, str]:
            actual = get(payload)
            if actual is _MISSING:
                return missing
            return True, f"{here} exists (was {show(actual)})"

        return present

    if op in ("equals", "not_equals"):
        same = _equal_to(expected)
        negated = op == "not_equals"
        if negated:
            held_end, failed_end = f", ≠ {shown}", f", needed anything but {shown}"
        else:
            held_end, failed_end = f", = {shown}", f", needed {shown}"

        def equality(payload: Any) -> tuple[bool, str]:
            actual = get(payload)
            if actual is _MISSING:
                return missing
            held = not same(actual) if negated else bool(same(actual))
            return held, was + show(actual) + (held_end if held else failed_end)

        return equality

    if op in ("gt", "lt"):
        symbol = OPERATOR_SYMBOLS[op]
        e_number = as_number(expected)
        greater = op == "gt"
        text = isinstance(expected, str)
        held_end, failed_end = f", {symbol} {shown}", f", needed {symbol} {shown}"
        refused_end = f"), cannot compare with {symbol} {shown}"

        def comparison(payload: Any) -> tuple[bool, str]:
            actual = get(payload)
            if actual is _MISSING:
                return missing
            a_number = as_number(actual)
            if a_number is not None and e_number is not None:
                held = a_number > e_number if greater else a_number < e_number
            elif text and isinstance(actual, str):
                held = actual > expected if greater else actual < expected
            else:
                return False, f"{was}{show(actual)} ({_kind(actual)}{refused_end}"
            return held, was + show(actual) + (held_end if held else failed_end)

        return comparison

    if op == "contains":
        needle = expected if isinstance(expected, str) else shown
        item_equals = _equal_to(expected)
        key = expected if isinstance(expected, str) else None
        held_answer = (True, f"{here} contains {shown}")
        failed_end = f", needed it to contain {shown}"

        def containment(payload: Any) -> tuple[bool, str]:
            actual = get(payload)
            if actual is _MISSING:
                return missing
            if isinstance(actual, str):
                held = needle in actual
            elif isinstance(actual, list):
                held = any(item_equals(item) for item in actual)
            elif isinstance(actual, dict):
                held = key is not None and key in actual
            else:
                return False, f"{was}{show(actual)} ({_kind(actual)}), contains needs text, a list or an object"
            return held_answer if held else (False, was + show(actual) + failed_end)

        return containment

    if op == "in":
        if not isinstance(expected, list):
            refused = (False, f"{here}: the rule's value is not a list")
            return lambda payload: missing if get(payload) is _MISSING else refused
        tests = [_equal_to(option) for option in expected]
        held_end, failed_end = f", one of {shown}", f", needed one of {shown}"

        def membership(payload: Any) -> tuple[bool, str]:
            actual = get(payload)
            if actual is _MISSING:
                return missing
            if isinstance(actual, (list, dict)):
                return False, f"{was}{show(actual)} ({_kind(actual)}), needed a single value"
            held = any(test(actual) for test in tests)
            return held, was + show(actual) + (held_end if held else failed_end)

        return membership

    # matches
    if not isinstance(expected, str):
        refused = (False, f"{here}: the rule's pattern is not text")
        return lambda payload: missing if get(payload) is _MISSING else refused
    pattern = patterns.compiled(expected)
    if isinstance(pattern, str):
        refused = (False, f"{here}: invalid pattern ({pattern})")
        return lambda payload: missing if get(payload) is _MISSING else refused
    cut_note = f" (first {MAX_SUBJECT_CHARS:,} characters)"

    def matching(payload: Any) -> tuple[bool, str]:
        actual = get(payload)
        if actual is _MISSING:
            return missing
        if isinstance(actual, bool) or actual is None or isinstance(actual, (list, dict)):
            return False, f"{was}{show(actual)} ({_kind(actual)}), matches needs text"
        subject = actual if isinstance(actual, str) else show(actual)
        note = cut_note if len(subject) > MAX_SUBJECT_CHARS else ""
        if patterns.search(pattern, subject):
            return True, f"{was}{show(actual)}, matches /{expected}/{note}"
        return False, f"{was}{show(actual)}, needed to match /{expected}/{note}"

    return matching


def _explain_condition(rule: dict) -> Node:
    path, op = str(rule.get("path", "")), str(rule.get("op", ""))
    expected = rule.get("value")
    head = f'{{"path":{_COMPACT_JSON(path)},"op":{_COMPACT_JSON(op)},"value":{_COMPACT_JSON(expected)},"matched":'
    words = _condition_words(path, op, expected)
    if isinstance(words, tuple):
        matched, reason = words
        return _constant(matched, reason, f'{head}{"true" if matched else "false"},"reason":{_text(reason)}}}')
    held_head, failed_head = head + 'true,"reason":', head + 'false,"reason":'

    def condition(payload: Any) -> tuple[bool, str, str, list[str]]:
        matched, reason = words(payload)
        return matched, reason, (held_head if matched else failed_head) + _text(reason) + "}", [reason]

    return condition


def _explain_children(rules: list, depth: int) -> list[Node]:
    nodes: list[Node] = []
    for rule in rules:
        if not isinstance(rule, dict):
            reason = f"not a rule: {show(rule)}"
            nodes.append(_constant(False, reason, f'{{"path":"","op":"","value":null,"matched":false,"reason":{_text(reason)}}}'))
        elif "rules" in rule:
            sub_match = rule.get("match") if rule.get("match") in MATCH_MODES else "all"
            if depth >= 2 or not isinstance(rule["rules"], list):
                reason = "groups nest one level at most"
                text = f'{{"match":"{sub_match}","matched":false,"reason":"{reason}","rules":[]}}'
                nodes.append(_constant(False, reason, text))
            else:
                nodes.append(_explain_group(sub_match, _explain_children(rule["rules"], depth + 1)))
        else:
            nodes.append(_explain_condition(rule))
    return nodes


def _explain_group(match: str, children: list[Node]) -> Node:
    total = len(children)
    head = f'{{"match":"{match}","matched":'

    def group(payload: Any) -> tuple[bool, str, str, list[str]]:
        results = [child(payload) for child in children]
        matched, reason = _verdict(match, sum(1 for result in results if result[0]), total)
        rules = ",".join([result[2] for result in results])
        text = f'{head}{"true" if matched else "false"},"reason":{_text(reason)},"rules":[{rules}]}}'
        return matched, reason, text, [result[1] for result in results if not result[0]] or [reason]

    return group


def _compile_explanation(match: str, rules: dict) -> Callable[[Any], str | None]:
    """``rules`` (which have rules: see CompiledRules) compiled into a function of the payload
    answering ``_COMPACT_JSON(Decision.as_dict())``, or None when a rule's value cannot be JSON."""
    items = rules["rules"] if isinstance(rules["rules"], list) else []
    try:
        children = _explain_children(items, depth=1)
    except (TypeError, ValueError, RecursionError):
        return lambda payload: None
    total = len(children)
    head = f'"match":"{match}","summary":'

    def decision(payload: Any) -> str:
        results = [child(payload) for child in children]
        held = sum(1 for result in results if result[0])
        matched, reason = _verdict(match, held, total)
        if matched:
            summary = f"Matched: {reason}."
        else:
            failing = [failed for result in results if not result[0] for failed in result[3]]
            summary = f"Not matched ({reason}): " + "; ".join(failing[:3]) + ("; …" if len(failing) > 3 else "") + "."
        rules = ",".join([result[2] for result in results])
        return f'{{"matched":{"true" if matched else "false"},{head}{_text(summary)},"rules":[{rules}]}}'

    return decision


def compile_rules(rules: dict | None) -> CompiledRules:
    """``rules`` turned into closures once (see above); never raises, like ``evaluate``."""
    return CompiledRules(rules)


# Validation ----------------------------------------------------------------------------------

def validate_condition(rule: Any, where: str, problems: list[str]) -> dict | None:
    """The condition, tidied, or None after adding "<where>: <problem>" to ``problems``."""
    if not isinstance(rule, dict):
        problems.append(f"{where}: not a rule.")
        return None
    path = rule.get("path")
    op = rule.get("op")
    if not isinstance(path, str) or not path.strip():
        problems.append(f"{where}: give the field's path, like order.total.")
        return None
    path = path.strip()
    if len(path) > MAX_PATH_CHARS or any(not part for part in path.split(".")):
        problems.append(f"{where}: {show(path)} is not a dotted path like order.total.")
        return None
    if op not in OPERATORS:
        problems.append(f"{where}: choose an operator.")
        return None
    value = rule.get("value")
    clean: dict = {"path": path, "op": op}
    if op == "exists":
        if value not in (None, "") and _as_bool(value) is None:
            problems.append(f"{where}: exists takes true or false, or nothing.")
            return None
        if value not in (None, "") and _as_bool(value) is False:
            clean["value"] = False
        return clean
    if op == "in":
        if not isinstance(value, list) or not value:
            problems.append(f"{where}: give a list of values, separated by commas.")
            return None
        if len(value) > MAX_LIST_VALUES:
            problems.append(f"{where}: at most {MAX_LIST_VALUES} values.")
            return None
        if any(isinstance(item, (list, dict)) for item in value):
            problems.append(f"{where}: the list holds single values only.")
            return None
        clean["value"] = value
        return clean
    if value is None or value == "":
        if op in ("equals", "not_equals") and value is None:
            clean["value"] = None
            return clean
        problems.append(f"{where}: give a value to compare with.")
        return None
    if isinstance(value, (list, dict)):
        problems.append(f"{where}: {OPERATORS[op]} takes a single value.")
        return None
    if len(show(value, limit=MAX_VALUE_CHARS + 10)) > MAX_VALUE_CHARS:
        problems.append(f"{where}: the value is limited to {MAX_VALUE_CHARS} characters.")
        return None
    if op in ("gt", "lt") and not (as_number(value) is not None or isinstance(value, str)):
        problems.append(f"{where}: {OPERATORS[op]} compares with a number or text.")
        return None
    if op == "matches":
        if not isinstance(value, str):
            problems.append(f"{where}: the pattern must be text.")
            return None
        problem = patterns.problem(value)
        if problem:
            problems.append(f"{where}: {problem}.")
            return None
    clean["value"] = value
    return clean


def validate_rules(rules: Any, *, required: bool = False) -> dict:
    """The rule set, tidied, or a ValidationError listing every problem with its position."""
    if rules in (None, "", {}):
        if required:
            raise ValidationError("A conditional trigger needs at least one rule.", code="rules_required")
        return {}
    if not isinstance(rules, dict) or not isinstance(rules.get("rules"), list):
        raise ValidationError('Rules look like {"match": "all", "rules": [...]}.', code="rules_shape")
    problems: list[str] = []
    match = rules.get("match", "all")
    if match not in MATCH_MODES:
        problems.append('Match is "all" or "any".')
    clean_rules: list[dict] = []
    count = 0
    for i, rule in enumerate(rules["rules"], start=1):
        if isinstance(rule, dict) and "rules" in rule:
            group_match = rule.get("match", "all")
            if group_match not in MATCH_MODES:
                problems.append(f'Group {i}: match is "all" or "any".')
            if not isinstance(rule["rules"], list) or not rule["rules"]:
                problems.append(f"Group {i}: a group needs at least one rule.")
                continue
            children = []
            for j, child in enumerate(rule["rules"], start=1):
                if isinstance(child, dict) and "rules" in child:
                    problems.append(f"Group {i}, rule {j}: groups nest one level at most.")
                    continue
                count += 1
                clean = validate_condition(child, f"Group {i}, rule {j}", problems)
                if clean:
                    children.append(clean)
            clean_rules.append({"match": group_match, "rules": children})
        else:
            count += 1
            clean = validate_condition(rule, f"Rule {i}", problems)
            if clean:
                clean_rules.append(clean)
    if count > MAX_RULES:
        problems.append(f"A trigger holds at most {MAX_RULES} rules.")
    if required and not count:
        problems.append("A conditional trigger needs at least one rule.")
    if problems:
        raise ValidationError(problems, code="rules")
    return {"match": match, "rules": clean_rules} if clean_rules else {}
