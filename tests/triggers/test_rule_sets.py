"""Events from rules store the digest of the rules they were checked against; their reasons are
worked out again from those rules and the payload when shown (triggers.evaluation.shown)."""

import json
import os
import random
import uuid

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tests.factories import WorkspaceFactory
from triggers import event_buffer, selectors, services, tasks
from triggers.evaluation import RULE_SET_KEY, RULES_GONE, compile_rules, rules_digest, shown
from triggers.models import TriggerEvent, TriggerRuleSet

from .conftest import BIG_ORDER_RULES, database_down

needs_redis = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis: make test uses it when 127.0.0.1:6379 answers, or set REDIS_URL")
VIP_RULES = {"match": "any", "rules": [{"path": "customer.tier", "op": "in", "value": ["gold", "vip"]}]}


@pytest.fixture
def conditional(make_trigger):
    return make_trigger(kind="conditional", rules=BIG_ORDER_RULES)


def _shown(event: TriggerEvent) -> dict:
    [event] = selectors.events_explained([event])
    return event.shown_decision


def test_it_stores_the_rules_digest_instead_of_the_reasons_and_shows_the_reasons(conditional, post_event, alice_client):
    post_event(conditional, {"order": {"total": 12}})

    event = TriggerEvent.objects.get()
    digest = rules_digest(BIG_ORDER_RULES)
    assert event.decision == {"matched": False, "match": "all", RULE_SET_KEY: digest}
    kept = TriggerRuleSet.objects.get()
    assert (kept.trigger_id, kept.workspace_id, kept.digest, kept.rules) == (conditional.pk, conditional.workspace_id, digest, BIG_ORDER_RULES)
    assert _shown(event) == compile_rules(BIG_ORDER_RULES)({"order": {"total": 12}}).as_dict()

    page = alice_client.get(conditional.get_absolute_url()).content.decode()
    assert "<code>order.total</code> was 12, needed &gt; 50" in page


def test_it_stores_a_matched_event_the_same_way(conditional, post_event):
    assert post_event(conditional, {"order": {"total": 80}}).json()["fired"] is True

    event = TriggerEvent.objects.get()
    assert event.decision == {"matched": True, "match": "all", RULE_SET_KEY: rules_digest(BIG_ORDER_RULES)}
    assert _shown(event)["summary"] == "Matched: the rule matched."


def test_it_shows_an_old_event_with_the_rules_it_was_checked_against_after_they_change(conditional, post_event):
    post_event(conditional, {"order": {"total": 12}, "customer": {"tier": "gold"}})
    services.trigger_update(trigger=conditional, by=None, rules=VIP_RULES)
    post_event(conditional, {"order": {"total": 12}, "customer": {"tier": "silver"}})

    old, new = TriggerEvent.objects.order_by("pk")
    assert _shown(old)["rules"][0]["reason"] == "`order.total` was 12, needed > 50"
    assert _shown(new)["rules"][0]["reason"] == '`customer.tier` was "silver", needed one of ["gold", "vip"]'
    assert TriggerRuleSet.objects.filter(trigger=conditional).count() == 2


def test_it_keeps_a_rule_set_once_per_process_not_once_per_event(conditional, post_event):
    post_event(conditional, {"order": {"total": 1}})
    with CaptureQueriesContext(connection) as queries:
        for total in range(2, 6):
            assert post_event(conditional, {"order": {"total": total}}).status_code == 202
    assert not [q for q in queries.captured_queries if TriggerRuleSet._meta.db_table in q["sql"]]
    assert TriggerRuleSet.objects.count() == 1
    assert TriggerEvent.objects.count() == 5


def test_it_keeps_each_workspace_its_own_rule_set_and_shows_each_event_by_its_own(conditional, post_event, campaign):
    other_workspace = WorkspaceFactory()
    other = services.trigger_create(workspace=other_workspace, by=None, name="Same rules", kind="conditional", rules=BIG_ORDER_RULES)
    post_event(conditional, {"order": {"total": 12}})
    post_event(other, {"order": {"total": 13}})

    assert sorted(TriggerRuleSet.objects.values_list("workspace_id", flat=True)) == sorted([conditional.workspace_id, other_workspace.pk])
    TriggerRuleSet.objects.filter(workspace=other_workspace).delete()
    mine, theirs = TriggerEvent.objects.order_by("pk")
    # The other workspace's event finds no rules of this workspace's trigger under the same digest.
    assert _shown(theirs)["summary"] == RULES_GONE
    assert _shown(mine)["rules"][0]["reason"] == "`order.total` was 12, needed > 50"


def test_it_says_so_when_the_rules_are_no_longer_kept_and_shows_older_decisions_as_stored(conditional):
    gone = TriggerEvent.objects.create(
        workspace_id=conditional.workspace_id,
        trigger=conditional,
        source="event",
        payload={"order": {"total": 3}},
        decision={"matched": False, "match": "all", RULE_SET_KEY: "0" * 64},
    )
    stored = {"matched": False, "match": "all", "summary": "Not matched (stored in full).", "rules": []}
    older = TriggerEvent.objects.create(workspace_id=conditional.workspace_id, trigger=conditional, source="event", payload={}, decision=stored)

    assert _shown(gone) == {"matched": False, "match": "all", "summary": RULES_GONE, "rules": []}
    assert _shown(older) == stored


def test_it_keeps_the_reasons_when_the_rules_cannot_be_kept_for_now(conditional, post_event, monkeypatch):
    monkeypatch.setattr(TriggerRuleSet.objects, "get_or_create", database_down)

    assert post_event(conditional, {"order": {"total": 12}}).status_code == 202

    event = TriggerEvent.objects.get()
    assert RULE_SET_KEY not in event.decision
    assert event.decision["rules"][0]["reason"] == "`order.total` was 12, needed > 50"
    assert _shown(event) == event.decision


@needs_redis
def test_it_buffers_the_digest_and_writes_it_in_the_flush(conditional, post_event, settings):
    settings.TRIGGER_EVENT_BUFFER = True
    settings.TRIGGER_EVENT_STREAM = f"test-trigger-events-{uuid.uuid4().hex}"
    try:
        assert post_event(conditional, {"order": {"total": 12}}).status_code == 202
        assert event_buffer.flush() == 1
    finally:
        event_buffer.drop()
    event = TriggerEvent.objects.get()
    assert event.decision[RULE_SET_KEY] == rules_digest(BIG_ORDER_RULES)
    assert _shown(event)["rules"][0]["reason"] == "`order.total` was 12, needed > 50"


def test_it_shows_the_events_of_a_page_with_one_query_for_their_rule_sets(conditional, post_event, django_assert_num_queries):
    for total in range(10):
        post_event(conditional, {"order": {"total": total}})
    services.trigger_update(trigger=conditional, by=None, rules=VIP_RULES)
    post_event(conditional, {"customer": {"tier": "silver"}})
    events = list(TriggerEvent.objects.all())

    with django_assert_num_queries(1):
        shown_events = selectors.events_explained(events)
    assert len({json.dumps(event.shown_decision["rules"][0]["op"]) for event in shown_events}) == 2


def test_it_shows_what_the_reasons_said_when_the_event_arrived(db):
    """The words worked out again equal those of the arrival, over random rules and payloads read
    back as JSON (the database keeps them as JSON)."""
    rng = random.Random(1605)
    paths = ["a", "b.c", "items.0.sku", "missing"]
    values = [0, 7, 12.5, -3, "vip", "", None, True, [1, "x"], {"k": 1}, "12", "Gold"]
    ops = ["equals", "not_equals", "contains", "gt", "lt", "in", "exists"]
    for _ in range(300):
        def condition():
            op = rng.choice(ops)
            value = [rng.choice(values), rng.choice(values)] if op == "in" else rng.choice(values)
            return {"path": rng.choice(paths), "op": op, "value": value}

        rules = {"match": rng.choice(["all", "any"]), "rules": [condition(), {"match": rng.choice(["all", "any"]), "rules": [condition(), condition()]}]}
        payload = {"a": rng.choice(values), "b": {"c": rng.choice(values)}, "items": [{"sku": rng.choice(values)}]}
        decision = compile_rules(rules)(payload)
        stored = json.loads(decision.stored_json())
        assert stored[RULE_SET_KEY] == rules_digest(rules)
        assert shown(stored, payload=json.loads(json.dumps(payload)), rules=json.loads(json.dumps(rules))) == decision.as_dict()


def test_it_prunes_the_rule_sets_no_event_names_but_keeps_the_current_ones(conditional, post_event, make_trigger):
    other = make_trigger(kind="conditional", rules=VIP_RULES, name="Other")
    post_event(conditional, {"order": {"total": 12}})  # names BIG_ORDER_RULES
    post_event(other, {"customer": {"tier": "silver"}})  # names VIP_RULES, and stays
    services.trigger_update(trigger=conditional, by=None, rules=VIP_RULES)
    post_event(conditional, {"customer": {"tier": "silver"}})  # names VIP_RULES on this trigger
    assert TriggerRuleSet.objects.count() == 3

    later = timezone.now() + services.RULE_SET_GRACE * 2
    assert services.trigger_rule_sets_prune() == 0  # all too recent
    with time_machine.travel(later):
        assert services.trigger_rule_sets_prune() == 0  # the old rules are still named by an event
    TriggerEvent.objects.filter(trigger=conditional).delete()  # as the retention does
    assert services.trigger_rule_sets_prune() == 0  # within the grace period

    with time_machine.travel(later):
        tasks.prune_events()

    kept = set(TriggerRuleSet.objects.values_list("trigger_id", "digest"))
    assert kept == {(conditional.pk, rules_digest(VIP_RULES)), (other.pk, rules_digest(VIP_RULES))}
