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

import functools
import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError

try:  # The stdlib's own regex parser: private, but the only parser that agrees with ``re``.
    from re import _parser as sre_parse  # type: ignore[attr-defined]
    from re import _constants as sre_constants  # type: ignore[attr-defined]
except ImportError:  # pragma: no cover - Python < 3.11
    import sre_constants  # type: ignore[no-redef]
    import sre_parse  # type: ignore[no-redef]

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
MAX_PATTERN_CHARS = 200
# ``matches`` looks at this much of a text at most, which bounds the cost of any pattern left.
MAX_SUBJECT_CHARS = 10_000
# A repeat counts as unbounded from this many repetitions on: enough to blow up when nested.
_LARGE_REPEAT = 32

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


@dataclass(slots=True)
class Decision:
    matched: bool
    match: str
    rules: tuple[RuleResult, ...] = field(default_factory=tuple)
    summary: str = ""

    def as_dict(self) -> dict:
        return {
            "matched": self.matched,
            "match": self.match,
            "summary": self.summary,
            "rules": [rule.as_dict() for rule in self.rules],
        }


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
        elif isinstance(current, list) and part.isdigit():
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
    if kind is str and (not value or value[0] not in "0123456789-. "):
        return None
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
    compiled = _compiled(expected)
    if isinstance(compiled, str):
        return result(False, f"{here}: unsafe or invalid pattern ({compiled})")
    if isinstance(actual, bool) or actual is None or isinstance(actual, (list, dict)):
        return result(False, f"{was} ({_kind(actual)}), matches needs text")
    subject = actual if isinstance(actual, str) else show(actual)
    cut = len(subject) > MAX_SUBJECT_CHARS
    held = compiled.search(subject[:MAX_SUBJECT_CHARS]) is not None
    note = f" (first {MAX_SUBJECT_CHARS:,} characters)" if cut else ""
    return result(held, f"{was}, matches /{expected}/{note}" if held else f"{was}, needed to match /{expected}/{note}")


def _combine(match: str, results: list[RuleResult]) -> tuple[bool, str]:
    held = sum(1 for r in results if r.matched)
    total = len(results)
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


def evaluate(*, rules: dict | None, payload: Any) -> Decision:
    """Whether ``payload`` satisfies ``rules``, with each rule's result and the reason.

    No rules means every payload matches (an event trigger). Never raises, whatever the inputs.
    """
    if not rules or not rules.get("rules"):
        return Decision(matched=True, match="all", summary="No rules: every event matches.")
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
    return Decision(matched=matched, match=match, rules=results, summary=summary)


# Validation ----------------------------------------------------------------------------------

_ANY = None  # A character set that may hold anything, for the overlap checks below.
_CATEGORY_CHARS = {
    sre_constants.CATEGORY_DIGIT: frozenset("0123456789"),
    sre_constants.CATEGORY_SPACE: frozenset(" \t\n\r\f\v"),
    # Word characters: ASCII ones, plus one stand-in for all the non-ASCII letters.
    sre_constants.CATEGORY_WORD: frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_\u00e9"),
}


def _overlap(a: frozenset | None, b: frozenset | None) -> bool:
    if a is _ANY or b is _ANY:
        return True
    return bool(a & b)


def _union(a: frozenset | None, b: frozenset | None) -> frozenset | None:
    if a is _ANY or b is _ANY:
        return _ANY
    return a | b


def _first_chars(items) -> frozenset | None:
    """The characters a parsed (sub)pattern can start with; ``_ANY`` when that is hard to say."""
    chars: frozenset = frozenset()
    for op, av in items:
        if op == sre_constants.LITERAL:
            return _union(chars, frozenset(chr(av)))
        if op == sre_constants.IN:
            return _union(chars, _class_chars(av))
        if op in (sre_constants.AT,):
            continue
        if op == sre_constants.SUBPATTERN:
            return _union(chars, _first_chars(av[-1]))
        if op == sre_constants.BRANCH:
            result: frozenset | None = frozenset()
            for alternative in av[1]:
                result = _union(result, _first_chars(alternative))
            return _union(chars, result)
        if op in _REPEATS:
            low = av[0]
            chars = _union(chars, _first_chars(av[2]))
            if chars is _ANY or low > 0:
                return chars
            continue
        return _ANY
    return chars


def _class_chars(items) -> frozenset | None:
    chars: set[str] = set()
    for op, av in items:
        if op == sre_constants.NEGATE:
            return _ANY
        if op == sre_constants.LITERAL:
            chars.add(chr(av))
        elif op == sre_constants.RANGE:
            low, high = av
            if high - low > 1000:
                return _ANY
            chars.update(chr(c) for c in range(low, high + 1))
        elif op == sre_constants.CATEGORY and av in _CATEGORY_CHARS:
            chars.update(_CATEGORY_CHARS[av])
        else:
            return _ANY
    return frozenset(chars)


_REPEATS = tuple(
    getattr(sre_constants, name) for name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT") if hasattr(sre_constants, name)
)


def _is_variable_repeat(op, av) -> bool:
    return op in _REPEATS and av[1] > 1 and av[0] != av[1]


def _is_large_repeat(op, av) -> bool:
    return op in _REPEATS and (av[1] == sre_constants.MAXREPEAT or av[1] >= _LARGE_REPEAT)


def _contains_variable_repeat(items) -> bool:
    for op, av in items:
        if _is_variable_repeat(op, av):
            return True
        for child in _children(op, av):
            if _contains_variable_repeat(child):
                return True
    return False


def _children(op, av) -> list:
    if op == sre_constants.SUBPATTERN:
        return [av[-1]]
    if op == sre_constants.BRANCH:
        return list(av[1])
    if op in _REPEATS:
        return [av[2]]
    if op in (sre_constants.ASSERT, sre_constants.ASSERT_NOT):
        return [av[1]]
    if op == getattr(sre_constants, "ATOMIC_GROUP", object()):
        return [av]
    if op == sre_constants.GROUPREF_EXISTS:
        return [branch for branch in av[1:] if branch is not None]
    return []


def _nullable(items) -> bool:
    """Whether a parsed (sub)pattern can match the empty string."""
    for op, av in items:
        if op in (sre_constants.AT, sre_constants.ASSERT, sre_constants.ASSERT_NOT):
            continue
        if op in _REPEATS:
            if av[0] == 0 or _nullable(av[2]):
                continue
            return False
        if op == sre_constants.SUBPATTERN:
            if _nullable(av[-1]):
                continue
            return False
        if op == sre_constants.BRANCH:
            if any(_nullable(alternative) for alternative in av[1]):
                continue
            return False
        return False
    return True


def _ambiguous_branch(items) -> bool:
    """A choice whose alternatives can match the same text: one may be empty, or two start alike."""
    for op, av in items:
        if op == sre_constants.BRANCH:
            alternatives = av[1]
            if any(_nullable(alternative) for alternative in alternatives):
                return True
            starts = [_first_chars(alternative) for alternative in alternatives]
            if any(_overlap(a, b) for i, a in enumerate(starts) for b in starts[i + 1 :]):
                return True
        if any(_ambiguous_branch(child) for child in _children(op, av)):
            return True
    return False


def _unsafe_structure(items) -> str:
    """Why a parsed pattern can backtrack catastrophically, or "" when the simple checks pass.

    Three shapes are refused inside or beside an unbounded repeat: another variable repeat,
    like (a+)+ or (.*)*; alternatives that can match the same text, like (a|aa)+; and two repeats
    in a row over overlapping characters, like .*.* . The parser has already turned simple
    choices such as (a|b) into character sets, which are safe.
    """
    previous: frozenset | None | bool = False
    for op, av in items:
        if _is_large_repeat(op, av):
            body = av[2]
            if _contains_variable_repeat(body):
                return "a repeated group holds another repeat, like (a+)+"
            if _ambiguous_branch(body):
                return "a repeated group has alternatives that can match the same text, like (a|aa)+"
            current = _first_chars(body)
            if previous is not False and _overlap(previous, current):
                return "two repeats in a row can match the same text, like .*.*"
            previous = current
        elif not (op == sre_constants.AT):
            previous = False
        for child in _children(op, av):
            problem = _unsafe_structure(child)
            if problem:
                return problem
    return ""


def regex_problem(pattern: str) -> str:
    """Why a pattern may not be used, or "" when it is safe enough to run on event payloads."""
    if len(pattern) > MAX_PATTERN_CHARS:
        return f"patterns are limited to {MAX_PATTERN_CHARS} characters"
    try:
        parsed = sre_parse.parse(pattern)
        re.compile(pattern)
    except (re.error, RecursionError, OverflowError, ValueError) as error:
        return f"not a valid regular expression: {error}"
    try:
        return _unsafe_structure(list(parsed))
    except RecursionError:
        return "the pattern nests too deeply"


@functools.lru_cache(maxsize=1024)
def _compiled(pattern: str) -> re.Pattern | str:
    problem = regex_problem(pattern)
    return problem or re.compile(pattern)


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
        problem = regex_problem(value)
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
