"""The pure rule evaluation: every operator both ways, all/any, nesting, reasons, and validation."""

import json

import pytest
from django.core.exceptions import ValidationError

from triggers.evaluation import MAX_SUBJECT_CHARS, evaluate, validate_rules

PAYLOAD = {
    "order": {"total": 80, "currency": "EUR", "items": [{"sku": "LIN-01"}, {"sku": "MUG-07"}]},
    "customer": {"tier": "gold", "email": "ada@example.com", "vip": True, "note": None},
    "tags": ["new", "vip"],
    "count": "12",
    "created": "2024-05-01",
}


def rule(path: str, op: str, value=None) -> dict:
    condition = {"path": path, "op": op}
    if value is not None:
        condition["value"] = value
    return condition


def check(condition: dict, payload=PAYLOAD):
    decision = evaluate(rules={"match": "all", "rules": [condition]}, payload=payload)
    return decision.matched, decision.rules[0].reason


@pytest.mark.parametrize(
    "condition, expected",
    [
        (rule("customer.tier", "equals", "gold"), True),
        (rule("customer.tier", "equals", "silver"), False),
        (rule("order.total", "equals", "80"), True),
        (rule("order.total", "equals", "80.0"), True),
        (rule("customer.vip", "equals", "true"), True),
        (rule("customer.vip", "equals", "false"), False),
        (rule("customer.note", "equals", "null"), True),
        (rule("customer.tier", "not_equals", "silver"), True),
        (rule("customer.tier", "not_equals", "gold"), False),
        (rule("order.total", "gt", 50), True),
        (rule("order.total", "gt", 80), False),
        (rule("count", "gt", "9"), True),
        (rule("order.total", "lt", "100"), True),
        (rule("order.total", "lt", 12), False),
        (rule("created", "gt", "2024-01-01"), True),
        (rule("created", "lt", "2024-01-01"), False),
        (rule("tags", "contains", "vip"), True),
        (rule("tags", "contains", "sale"), False),
        (rule("customer.email", "contains", "@example"), True),
        (rule("customer.email", "contains", "@other"), False),
        (rule("customer", "contains", "tier"), True),
        (rule("customer", "contains", "age"), False),
        (rule("order.currency", "in", ["EUR", "USD"]), True),
        (rule("order.currency", "in", ["GBP"]), False),
        (rule("order.total", "in", ["79", "80"]), True),
        (rule("order.items.1.sku", "exists"), True),
        (rule("order.items.2.sku", "exists"), False),
        (rule("customer.note", "exists"), True),
        (rule("customer.age", "exists", False), True),
        (rule("customer.tier", "exists", False), False),
        (rule("order.items.0.sku", "matches", r"^[A-Z]{3}-\d+$"), True),
        (rule("customer.email", "matches", r"@example\.org$"), False),
        (rule("order.total", "matches", r"^8"), True),
    ],
)
def test_it_evaluates_each_operator_both_ways(condition, expected):
    matched, reason = check(condition)
    assert matched is expected, reason


def test_it_explains_a_failed_comparison_with_the_value_and_the_need():
    assert check(rule("order.total", "gt", 100)) == (False, "`order.total` was 80, needed > 100")


def test_it_explains_a_held_comparison():
    assert check(rule("order.total", "gt", 50)) == (True, "`order.total` was 80, > 50")


def test_it_explains_a_missing_field():
    assert check(rule("customer.age", "gt", 18)) == (False, "`customer.age` was missing")


def test_it_explains_a_list_that_contains_the_value():
    assert check(rule("tags", "contains", "vip")) == (True, '`tags` contains "vip"')


def test_it_explains_an_equality_that_failed():
    assert check(rule("customer.tier", "equals", "silver")) == (False, '`customer.tier` was "gold", needed "silver"')


def test_it_gives_false_with_a_reason_on_a_type_mismatch_instead_of_raising():
    matched, reason = check(rule("tags", "gt", 5))
    assert not matched
    assert reason == '`tags` was ["new", "vip"] (a list), cannot compare with > 5'


def test_it_refuses_to_compare_a_number_with_words():
    matched, reason = check(rule("customer.tier", "gt", 5))
    assert not matched
    assert "cannot compare" in reason


def test_it_treats_a_missing_field_as_false_for_not_equals():
    assert check(rule("customer.age", "not_equals", "12"))[0] is False


def test_it_never_raises_on_rules_it_did_not_validate():
    weird = {"match": "sometimes", "rules": [42, {"path": "x", "op": "teleports"}, {"match": "any", "rules": "no"}]}
    decision = evaluate(rules=weird, payload=["not", "an", "object"])
    assert decision.matched is False
    assert [r.matched for r in decision.rules] == [False, False, False]


def test_it_matches_everything_without_rules():
    decision = evaluate(rules={}, payload={"anything": 1})
    assert decision.matched
    assert decision.summary == "No rules: every event matches."


def test_it_needs_every_rule_with_all():
    rules = {"match": "all", "rules": [rule("order.total", "gt", 50), rule("customer.tier", "equals", "silver")]}
    decision = evaluate(rules=rules, payload=PAYLOAD)
    assert not decision.matched
    assert decision.summary == 'Not matched (1 of 2 matched, needed all): `customer.tier` was "gold", needed "silver".'


def test_it_needs_one_rule_with_any():
    rules = {"match": "any", "rules": [rule("order.total", "gt", 500), rule("customer.tier", "equals", "gold")]}
    decision = evaluate(rules=rules, payload=PAYLOAD)
    assert decision.matched
    assert decision.summary == "Matched: 1 of 2 matched, needed any."


def test_it_evaluates_a_nested_group():
    rules = {
        "match": "all",
        "rules": [
            rule("order.total", "gt", 50),
            {"match": "any", "rules": [rule("customer.tier", "equals", "platinum"), rule("tags", "contains", "vip")]},
        ],
    }
    decision = evaluate(rules=rules, payload=PAYLOAD).as_dict()
    assert decision["matched"] is True
    group = decision["rules"][1]
    assert group["match"] == "any" and group["matched"] is True
    assert group["reason"] == "1 of 2 matched, needed any"
    assert [child["matched"] for child in group["rules"]] == [False, True]


def test_it_fails_the_whole_rule_set_when_a_nested_group_fails():
    rules = {
        "match": "all",
        "rules": [
            rule("order.total", "gt", 50),
            {"match": "all", "rules": [rule("customer.tier", "equals", "gold"), rule("tags", "contains", "sale")]},
        ],
    }
    assert evaluate(rules=rules, payload=PAYLOAD).matched is False


def test_it_caps_the_text_a_pattern_runs_on():
    long_text = "a" * (MAX_SUBJECT_CHARS + 10) + "END"
    matched, reason = check(rule("body", "matches", "END$"), payload={"body": long_text})
    assert not matched
    assert f"first {MAX_SUBJECT_CHARS:,} characters" in reason


def test_it_evaluates_a_pattern_the_engine_cannot_run_as_false():
    matched, reason = check(rule("body", "matches", r"(a)\1"), payload={"body": "aa"})
    assert not matched
    assert "invalid pattern" in reason


def test_it_validates_rules_with_positions():
    with pytest.raises(ValidationError) as caught:
        validate_rules(
            {
                "match": "all",
                "rules": [
                    {"path": "", "op": "equals", "value": "x"},
                    {"path": "a", "op": "gt"},
                    {"match": "any", "rules": [{"path": "b", "op": "matches", "value": "(?=a)"}]},
                    {"path": "c", "op": "in", "value": "not a list"},
                ],
            }
        )
    messages = caught.value.messages
    assert messages[0].startswith("Rule 1:")
    assert messages[1].startswith("Rule 2:")
    assert messages[2].startswith("Group 3, rule 1:")
    assert messages[3].startswith("Rule 4:")


def test_it_refuses_groups_nested_twice():
    with pytest.raises(ValidationError, match="one level"):
        validate_rules({"match": "all", "rules": [{"match": "any", "rules": [{"match": "all", "rules": [rule("a", "exists")]}]}]})


def test_it_requires_a_rule_when_asked():
    with pytest.raises(ValidationError, match="at least one rule"):
        validate_rules({}, required=True)


def test_it_names_the_failing_rules_inside_a_group_in_the_summary():
    rules = {"match": "all", "rules": [{"match": "any", "rules": [rule("customer.tier", "equals", "silver"), rule("tags", "contains", "sale")]}]}
    summary = evaluate(rules=rules, payload=PAYLOAD).summary
    assert summary == (
        'Not matched (0 of 1 matched, needed all): `customer.tier` was "gold", needed "silver"; '
        '`tags` was ["new", "vip"], needed it to contain "sale".'
    )


# Compiled rules against their explanation ------------------------------------------------------

TRICKY_VALUES = [
    12, "12", " 12 ", 12.0, 12.5, "12.50", "1e3", 1000, 0, "-3", -3, "NaN", "", "EUR", "eur", "vip", "gold",
    True, False, "true", " FALSE ", None, "null", [], ["vip", "new"], ["12", 3], {"vip": 1}, {}, "2024-05-01",
    "ada@example.com", "LIN-01",
    # What JSON text and the shortened values shown in reasons must escape or cut.
    'say "hi" \\ back', "naïve ☃ \u2028", "tab\there", "x" * 80, 1e20, 10**16, -0.0, 0.00001, {"a": [1, {"b": "c"}]},
]
PATHS = ["a", "b", "a.b", "list.0", "list.1.c", "deep.x.y", "missing", "a.missing.z"]


def tricky_rule(rng) -> dict:
    op = rng.choice(["equals", "not_equals", "contains", "gt", "lt", "in", "exists", "matches", "bogus"])
    condition = {"path": rng.choice(PATHS), "op": op}
    if op == "in":
        condition["value"] = rng.sample(TRICKY_VALUES, rng.randint(0, 4)) if rng.random() < 0.9 else "notalist"
    elif op == "matches":
        condition["value"] = rng.choice([r"^\d+$", "vip", r"@example\.com$", "(unclosed", 12, r"(a)\1"])
    elif op == "exists":
        condition["value"] = rng.choice([None, True, False, "false", "maybe"])
    else:
        condition["value"] = rng.choice(TRICKY_VALUES)
    if rng.random() < 0.05:
        condition["path"] = ""
    return condition


def tricky_rules(rng) -> dict:
    items: list = [tricky_rule(rng) for _ in range(rng.randint(0, 3))]
    if rng.random() < 0.4:
        group = {"match": rng.choice(["all", "any", "neither"]), "rules": [tricky_rule(rng) for _ in range(rng.randint(0, 3))]}
        if rng.random() < 0.1:
            group["rules"].append({"match": "all", "rules": [tricky_rule(rng)]})  # nested too deep
        items.append(group)
    if rng.random() < 0.05:
        items.append("not a rule")
    return {"match": rng.choice(["all", "any", "other"]), "rules": items}


def tricky_payload(rng):
    value = lambda: rng.choice(TRICKY_VALUES)  # noqa: E731
    payload = {
        "a": rng.choice([value(), {"b": value()}, {"b": value(), "missing": {"z": 1}}]),
        "b": value(),
        "list": rng.choice([[value(), {"c": value()}], [value()], "text", {"0": value(), "1": {"c": value()}}]),
        "deep": {"x": rng.choice([{"y": value()}, [value()], value()])},
    }
    return rng.choice([payload, payload, payload, [payload], "text", None])


def test_it_gives_the_same_answer_compiled_as_when_explaining_why():
    import random

    from triggers.evaluation import compile_rules, explain

    rng = random.Random(16)
    checked = matched = 0
    for _ in range(400):
        rules = tricky_rules(rng)
        compiled = compile_rules(rules)
        for _ in range(25):
            payload = tricky_payload(rng)
            decision = compiled(payload)
            expected = explain(rules=rules, payload=payload)
            assert decision.matched == expected[0], (rules, payload)
            # The JSON stored, written by compiled closures, is the explanation's as it was encoded.
            explained = {"matched": expected[0], "match": expected[1], "summary": expected[3], "rules": [r.as_dict() for r in expected[2]]}
            assert decision.as_json() == json.dumps(explained, ensure_ascii=False, separators=(",", ":")), (rules, payload)
            # The reasons, built when read, are the explanation's.
            assert decision.as_dict()["summary"] == expected[3]
            checked += 1
            matched += decision.matched
    # Both answers occur often enough for the comparison to mean something.
    assert 0.2 < matched / checked < 0.8


def test_it_builds_the_reasons_only_when_the_decision_is_read(monkeypatch):
    from triggers import evaluation

    calls = []
    real = evaluation.explain
    monkeypatch.setattr(evaluation, "explain", lambda **kwargs: calls.append(1) or real(**kwargs))
    decision = evaluation.compile_rules({"match": "all", "rules": [rule("order.total", "gt", 50)]})(PAYLOAD)
    assert decision.matched is True
    assert calls == []
    assert decision.summary == "Matched: the rule matched."
    assert decision.rules[0].reason == "`order.total` was 80, > 50"
    assert len(calls) == 1
