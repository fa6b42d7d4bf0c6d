"""One event evaluated against the rules of 1,000 conditional triggers in one workspace.

The timed metric is the evaluation over the 1,000 rule sets already loaded and compiled into
closures (``triggers.evaluation.compile_rules``): the work that grows with the number of triggers.
A decision's reasons are built when it is stored or shown, so they are not in that figure.
Loading and compiling the rule sets, turning the decisions into what is stored (every reason), and the whole intake service per trigger (evaluate and store the event) are
printed for scale. The rule sets mix every operator, all/any and one nested group, with 1 to 6
conditions each, a regular expression in one set out of five; the event matches about half of them.
"""

import os
import random
import statistics
import time

from django.test import override_settings

from bench import Metric, Result
from marketing.models import User
from marketing.services import workspace_create
from triggers import event_buffer, services
from triggers.evaluation import CompiledRules, compile_rules, evaluate, explain, validate_rules
from triggers.models import Trigger, TriggerEvent, TriggerKind

TRIGGERS = 1_000
MAX_MS = 5.0
ROUNDS = 30
STORED_SAMPLE = 100

EVENT = {
    "order": {
        "id": "A-10293",
        "total": 82.5,
        "currency": "EUR",
        "country": "DE",
        "items": [{"sku": "LIN-01", "qty": 2}, {"sku": "MUG-07", "qty": 1}],
        "coupon": None,
    },
    "customer": {"tier": "gold", "email": "ada@example.com", "tags": ["newsletter", "vip"], "orders": "14"},
    "source": "shop",
    "created": "2026-03-01T10:00:00Z",
}


def _condition(rng: random.Random) -> dict:
    return rng.choice(
        [
            {"path": "order.total", "op": rng.choice(["gt", "lt"]), "value": rng.choice([20, 50, 80, 100, 250])},
            {"path": "order.currency", "op": "equals", "value": rng.choice(["EUR", "USD", "GBP"])},
            {"path": "order.country", "op": "in", "value": rng.sample(["DE", "AT", "CH", "FR", "NL", "US"], 3)},
            {"path": "customer.tier", "op": rng.choice(["equals", "not_equals"]), "value": rng.choice(["gold", "silver"])},
            {"path": "customer.tags", "op": "contains", "value": rng.choice(["vip", "wholesale", "newsletter"])},
            {"path": "customer.orders", "op": "gt", "value": rng.choice(["3", "10", "20"])},
            {"path": "order.items.0.sku", "op": "exists"},
            {"path": "order.gift_note", "op": "exists", "value": rng.choice([True, False])},
            {"path": "source", "op": "equals", "value": rng.choice(["shop", "pos", "app"])},
        ]
    )


def _rules(rng: random.Random, index: int) -> dict:
    rules = [_condition(rng) for _ in range(rng.randint(1, 3))]
    if index % 3 == 0:
        rules.append({"match": rng.choice(["all", "any"]), "rules": [_condition(rng) for _ in range(2)]})
    if index % 5 == 0:
        rules.append({"path": "customer.email", "op": "matches", "value": rng.choice([r"@example\.com$", r"^[a-z]+@", r"\.de$"])})
    return validate_rules({"match": rng.choice(["all", "all", "any"]), "rules": rules}, required=True)


def _create(rng: random.Random):
    user = User.objects.create_user(email="eval@bench.example", password="x")
    workspace = workspace_create(name="Evaluation bench", owner=user)
    Trigger.objects.bulk_create(
        [
            Trigger(workspace=workspace, name=f"Rule set {i}", kind=TriggerKind.CONDITIONAL, rules=_rules(rng, i))
            for i in range(TRIGGERS)
        ],
        batch_size=500,
    )
    return workspace


def _rule_sets(workspace) -> list[tuple[int, CompiledRules]]:
    """(id, compiled rules) of the workspace's enabled conditional triggers, as each trigger's
    lookup compiles its own (``Trigger.compiled_rules``), all at once."""
    return [
        (pk, compile_rules(rules))
        for pk, rules in Trigger.objects.filter(workspace=workspace, kind=TriggerKind.CONDITIONAL, enabled=True)
        .order_by("pk")
        .values_list("pk", "rules")
    ]


def run(*, requests: int) -> Result:
    result = Result()
    workspace = _create(random.Random(6))

    started = time.perf_counter()
    loaded = _rule_sets(workspace)
    load_ms = (time.perf_counter() - started) * 1000
    rule_sets = [compiled for _, compiled in loaded]
    if len(rule_sets) != TRIGGERS:
        raise AssertionError(f"loaded {len(rule_sets)} rule sets, not {TRIGGERS}")
    conditions = sum(_count(compiled.rules) for compiled in rule_sets)

    for compiled in rule_sets:  # Warm-up.
        compiled(EVENT)
    samples = []
    for _ in range(max(ROUNDS, requests // 2)):
        started = time.perf_counter()
        decisions = [compiled(EVENT) for compiled in rule_sets]
        samples.append((time.perf_counter() - started) * 1000)
    matched = sum(decision.matched for decision in decisions)
    explained = [evaluate(rules=compiled.rules, payload=EVENT) for compiled in rule_sets]
    if [decision.matched for decision in explained] != [explain(rules=c.rules, payload=EVENT)[0] for c in rule_sets]:
        raise AssertionError("the compiled rules and their explanation disagree")

    started = time.perf_counter()
    stored = [decision.as_dict() for decision in decisions]
    as_dict_ms = (time.perf_counter() - started) * 1000

    triggers = list(Trigger.objects.filter(workspace=workspace).order_by("pk")[:STORED_SAMPLE])
    # With Redis, events that start nothing are buffered: in a stream of this run's own, written after.
    with override_settings(TRIGGER_EVENT_STREAM=f"bench-triggers-eval-{os.getpid()}:events"):
        try:
            started = time.perf_counter()
            for trigger in triggers:
                services.trigger_event_receive(trigger=trigger, payload=EVENT)
            intake_ms = (time.perf_counter() - started) * 1000 / len(triggers)
            event_buffer.flush(batches=10)
        finally:
            event_buffer.drop()
    if TriggerEvent.objects.filter(trigger__workspace=workspace).count() != len(triggers):
        raise AssertionError("not every evaluated event was stored")

    median = statistics.median(samples)
    result.say(
        f"data: {TRIGGERS:,} conditional triggers, {conditions:,} conditions; the event matches {matched} of them"
    )
    result.say(f"load the rule sets from the database and compile them: {load_ms:6.2f} ms (info)")
    result.say(
        f"evaluate 1 event x {TRIGGERS:,} rule sets: median {median:6.2f} ms, min {min(samples):6.2f} ms, "
        f"max {max(samples):6.2f} ms (garbage-collector pauses land there; {len(samples)} rounds); "
        f"{median * 1000 / TRIGGERS:.1f} us per trigger"
    )
    result.say(
        f"decisions as stored (as_dict, which builds every reason) for all {TRIGGERS:,}: {as_dict_ms:6.2f} ms "
        f"(info, {len(stored)} decisions)"
    )
    result.say(f"whole intake service per trigger (evaluate + store or buffer the event), {len(triggers)} triggers: {intake_ms:6.2f} ms each (info)")
    result.metrics.append(Metric("trigger_eval_1000", median, "ms", MAX_MS, decimals=1))
    return result


def _count(rules: dict) -> int:
    return sum(_count(rule) if "rules" in rule else 1 for rule in rules.get("rules", []))
