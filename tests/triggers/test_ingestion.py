"""POST /hooks/triggers/<token>/: what is accepted, what is refused and how refusals are counted."""

import json

import pytest
import time_machine
from django.db import OperationalError, connection
from django.test import override_settings
from django.urls import URLPattern, get_resolver, resolve

from campaigns.models import CampaignExecution, CampaignStatus, ExecutionStatus
from tests.factories import CampaignFactory
from marketing.webhooks import signature
from triggers import selectors, services, views
from triggers.models import TriggerEvent, TriggerRejection

from .conftest import BIG_ORDER_RULES, database_down


def rejections(trigger) -> dict[str, int]:
    return dict(TriggerRejection.objects.filter(trigger=trigger).values_list("reason", "count"))


def assert_nothing_stored() -> None:
    assert TriggerEvent.objects.count() == 0
    assert CampaignExecution.objects.count() == 0


# Accepted ---------------------------------------------------------------------------------------


def test_it_stores_the_event_and_starts_the_campaigns(make_trigger, post_event, campaign):
    other = CampaignFactory(workspace=campaign.workspace, name="Newsletter")
    trigger = make_trigger(campaigns=[campaign, other])

    response = post_event(trigger, {"order": {"total": 80}})

    assert response.status_code == 202
    body = response.json()
    event = TriggerEvent.objects.get()
    assert body["event"] == str(event.uuid)
    assert body["matched"] is True and body["fired"] is True
    executions = CampaignExecution.objects.order_by("pk")
    assert sorted(body["executions"]) == sorted(str(e.uuid) for e in executions)
    assert {e.campaign_id for e in executions} == {campaign.pk, other.pk}
    assert all(e.source == "trigger" for e in executions)
    assert set(event.executions.all()) == set(executions)
    assert event.payload == {"order": {"total": 80}}
    assert event.source == "event"


def test_it_links_each_run_back_to_its_event(make_trigger, post_event):
    trigger = make_trigger()
    post_event(trigger)
    execution = CampaignExecution.objects.get()
    assert list(execution.trigger_events.all()) == [TriggerEvent.objects.get(trigger=trigger)]


def test_it_runs_the_queued_executions_after_commit(make_trigger, post_event, django_capture_on_commit_callbacks):
    trigger = make_trigger()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        post_event(trigger)
    assert len(callbacks) == 1
    execution = CampaignExecution.objects.get()
    assert execution.status == ExecutionStatus.SUCCEEDED


def test_it_stores_a_non_matching_event_with_its_decision_and_runs_nothing(make_trigger, post_event):
    trigger = make_trigger(kind="conditional", rules=BIG_ORDER_RULES)

    response = post_event(trigger, {"order": {"total": 12}})

    assert response.status_code == 202
    assert response.json() == {
        "event": str(TriggerEvent.objects.get().uuid),
        "matched": False,
        "fired": False,
        "skipped": "not_matched",
        "executions": [],
    }
    event = TriggerEvent.objects.get()
    [shown] = selectors.events_explained([event])
    assert shown.shown_decision["rules"][0]["reason"] == "`order.total` was 12, needed > 50"
    assert event.payload == {"order": {"total": 12}}
    assert CampaignExecution.objects.count() == 0


def test_it_fires_a_conditional_trigger_whose_rules_match(make_trigger, post_event):
    trigger = make_trigger(kind="conditional", rules=BIG_ORDER_RULES)
    response = post_event(trigger, {"order": {"total": 51}})
    assert response.json()["fired"] is True
    assert CampaignExecution.objects.count() == 1


def test_it_accepts_a_correct_signature(make_trigger, post_event):
    trigger = make_trigger()
    secret = services.trigger_set_signing_secret(trigger=trigger, by=None)
    body = json.dumps({"order": {"total": 80}}).encode()

    response = post_event(trigger, body, X_Signature=signature.sign(secret=secret, target=trigger.token, body=body))

    assert response.status_code == 202


def test_it_accepts_json_with_a_charset(make_trigger, post_event):
    response = post_event(make_trigger(), content_type="application/json; charset=utf-8")
    assert response.status_code == 202


def test_it_leaves_paused_and_archived_campaigns_out(make_trigger, post_event, campaign):
    paused = CampaignFactory(workspace=campaign.workspace, name="Paused one", status=CampaignStatus.PAUSED)
    archived = CampaignFactory(workspace=campaign.workspace, name="Old one", status=CampaignStatus.ARCHIVED)
    trigger = make_trigger(campaigns=[campaign, paused, archived])

    post_event(trigger)

    assert list(CampaignExecution.objects.values_list("campaign_id", flat=True)) == [campaign.pk]
    assert "Paused one" in TriggerEvent.objects.get().note


def test_it_logs_an_event_without_campaigns_as_skipped(make_trigger, post_event):
    trigger = make_trigger(campaigns=[])
    response = post_event(trigger)
    assert response.json()["skipped"] == "no_campaigns"
    assert TriggerEvent.objects.get().fired is False


# Cooldown ---------------------------------------------------------------------------------------


def test_it_does_not_fire_again_within_the_cooldown(make_trigger, post_event):
    trigger = make_trigger(cooldown=600)
    with time_machine.travel("2026-03-01 10:00:00Z", tick=False):
        assert post_event(trigger).json()["fired"] is True
    with time_machine.travel("2026-03-01 10:09:00Z", tick=False):
        second = post_event(trigger).json()

    assert second["fired"] is False
    assert second["skipped"] == "cooldown"
    assert CampaignExecution.objects.count() == 1
    assert TriggerEvent.objects.count() == 2
    assert "cooldown ends in 60 s" in TriggerEvent.objects.get(uuid=second["event"]).note


def test_it_fires_again_once_the_cooldown_is_over(make_trigger, post_event):
    trigger = make_trigger(cooldown=600)
    with time_machine.travel("2026-03-01 10:00:00Z", tick=False):
        post_event(trigger)
    with time_machine.travel("2026-03-01 10:10:00Z", tick=False):
        assert post_event(trigger).json()["fired"] is True
    assert CampaignExecution.objects.count() == 2


def test_it_claims_the_cooldown_with_a_compare_and_set(make_trigger):
    """A second worker holding a stale copy of the trigger cannot fire it inside the cooldown."""
    trigger = make_trigger(cooldown=600)
    stale = type(trigger).objects.get(pk=trigger.pk)

    services.trigger_event_receive(trigger=trigger, payload={})
    second = services.trigger_event_receive(trigger=stale, payload={})

    assert second.fired is False and second.skipped_reason == "cooldown"
    assert CampaignExecution.objects.count() == 1


# Refused ----------------------------------------------------------------------------------------


def test_it_answers_400_to_a_body_that_is_not_json(make_trigger, post_event):
    trigger = make_trigger()
    response = post_event(trigger, b"{not json")
    assert response.status_code == 400
    assert response.json()["error"] == "not_json"
    assert_nothing_stored()
    assert rejections(trigger) == {"not_json": 1}


@pytest.mark.parametrize("body", [b"NaN", b'{"a": Infinity}', b'{"a": 1e999}', b'{"a": "\\u0000"}', b"\xff\xfe", b"[" * 100 + b"]" * 100])
def test_it_answers_400_to_json_the_database_cannot_store(make_trigger, post_event, body):
    trigger = make_trigger()
    response = post_event(trigger, body)
    assert response.status_code == 400
    assert response.json()["error"] == "not_json"
    assert_nothing_stored()


def test_it_answers_413_to_a_body_over_256_kb(make_trigger, post_event):
    trigger = make_trigger()
    body = json.dumps({"blob": "x" * (256 * 1024)})
    response = post_event(trigger, body)
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"
    assert_nothing_stored()
    assert rejections(trigger) == {"too_large": 1}


def test_it_answers_415_to_another_content_type(make_trigger, post_event):
    trigger = make_trigger()
    response = post_event(trigger, "order=1", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.json()["error"] == "content_type"
    assert_nothing_stored()
    assert rejections(trigger) == {"content_type": 1}


def test_it_answers_401_to_a_missing_signature(make_trigger, post_event):
    trigger = make_trigger()
    services.trigger_set_signing_secret(trigger=trigger, by=None)
    response = post_event(trigger)
    assert response.status_code == 401
    assert response.json()["error"] == "bad_signature"
    assert_nothing_stored()
    assert rejections(trigger) == {"bad_signature": 1}


def test_it_answers_401_to_a_wrong_signature(make_trigger, post_event):
    trigger = make_trigger()
    services.trigger_set_signing_secret(trigger=trigger, by=None)
    body = json.dumps({"order": {"total": 80}}).encode()
    forged = signature.sign(secret="not the secret", target=trigger.token, body=body)
    response = post_event(trigger, body, X_Signature=forged)
    assert response.status_code == 401
    assert_nothing_stored()


def test_it_answers_401_to_a_signature_of_another_body(make_trigger, post_event):
    trigger = make_trigger()
    secret = services.trigger_set_signing_secret(trigger=trigger, by=None)
    signed = signature.sign(secret=secret, target=trigger.token, body=b'{"order": {"total": 1}}')
    response = post_event(trigger, b'{"order": {"total": 999}}', X_Signature=signed)
    assert response.status_code == 401


def test_it_answers_409_for_a_disabled_trigger(make_trigger, post_event):
    trigger = make_trigger(enabled=False)
    response = post_event(trigger)
    assert response.status_code == 409
    assert response.json() | {"error": "disabled", "message": "This trigger is disabled.", "status": 409} == response.json()
    assert_nothing_stored()
    assert rejections(trigger) == {"disabled": 1}


def test_it_answers_404_to_an_unknown_token(make_trigger, post_event):
    trigger = make_trigger()
    response = post_event("x" * 43)
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_token"
    assert_nothing_stored()
    assert rejections(trigger) == {}


def test_it_answers_404_to_the_url_of_a_manual_trigger(make_trigger, post_event):
    response = post_event(make_trigger(kind="manual"))
    assert response.status_code == 404


def test_it_answers_404_to_an_old_url_after_a_new_one_was_made(make_trigger, post_event):
    trigger = make_trigger()
    old_token = trigger.token
    services.trigger_regenerate_token(trigger=trigger, by=None)
    assert post_event(old_token).status_code == 404
    assert post_event(trigger.token).status_code == 202


def test_it_answers_405_json_to_a_get(make_trigger, client):
    response = client.get(f"/hooks/triggers/{make_trigger().token}/")
    assert response.status_code == 405
    assert response.json()["error"] == "method_not_allowed"


def test_it_counts_rejections_per_reason(make_trigger, post_event):
    trigger = make_trigger()
    post_event(trigger, b"nope")
    post_event(trigger, b"nope")
    post_event(trigger, "a=b", content_type="text/plain")
    assert rejections(trigger) == {"not_json": 2, "content_type": 1}


@pytest.fixture
def own_cache(settings, tmp_path):
    """A cache no other test run can clear (var/cache is shared by every run in this checkout),
    and a frozen clock, so that the requests never straddle the end of a rate-limit window."""
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": str(tmp_path)}}
    with time_machine.travel("2026-03-01 10:00:00Z", tick=False):
        yield


@override_settings(TRIGGER_EVENT_RATE="3/minute")
def test_it_answers_429_after_the_rate_limit(make_trigger, post_event, own_cache):
    trigger = make_trigger()
    statuses = [post_event(trigger, {"n": i}).status_code for i in range(5)]

    assert statuses == [202, 202, 202, 429, 429]
    assert TriggerEvent.objects.count() == 3
    assert rejections(trigger) == {"rate_limited": 2}


@override_settings(TRIGGER_EVENT_RATE="2/minute")
def test_it_limits_each_url_on_its_own(make_trigger, post_event, own_cache):
    first, second = make_trigger(name="One"), make_trigger(name="Two")
    for _ in range(2):
        post_event(first)
    assert post_event(first).status_code == 429
    assert post_event(second).status_code == 202


def test_it_never_answers_500_to_garbage(make_trigger, post_event):
    trigger = make_trigger(kind="conditional", rules=BIG_ORDER_RULES)
    for body in [b"", b"null", b"[]", b'"text"', b"12", b'{"order": []}', b'{"order": {"total": {"x": 1}}}', "é".encode("latin-1")]:
        response = post_event(trigger, body)
        assert response.status_code in (202, 400, 415), (body, response.status_code)
        assert response["Content-Type"] == ("application/json" if response.status_code == 202 else "application/problem+json")


# The lookup cache ---------------------------------------------------------------------------------


def test_it_refuses_events_at_once_after_a_disable_despite_the_lookup_cache(make_trigger, post_event):
    trigger = make_trigger()
    assert post_event(trigger).status_code == 202
    services.trigger_set_enabled(trigger=trigger, enabled=False, by=None)
    assert post_event(trigger).status_code == 409


def test_it_requires_a_new_signing_secret_at_once_despite_the_lookup_cache(make_trigger, post_event):
    trigger = make_trigger()
    assert post_event(trigger).status_code == 202
    services.trigger_set_signing_secret(trigger=trigger, by=None)
    assert post_event(trigger).status_code == 401


def test_it_uses_edited_rules_at_once_despite_the_lookup_cache(make_trigger, post_event):
    trigger = make_trigger(kind="conditional", rules=BIG_ORDER_RULES)
    assert post_event(trigger, {"order": {"total": 80}}).json()["matched"] is True
    services.trigger_update(
        trigger=trigger, by=None, rules={"match": "all", "rules": [{"path": "order.total", "op": "gt", "value": 100}]}
    )
    assert post_event(trigger, {"order": {"total": 80}}).json()["matched"] is False


def test_it_keeps_the_signing_secret_and_the_token_out_of_the_cache(make_trigger):
    from triggers import cache, selectors

    trigger = make_trigger()
    secret = services.trigger_set_signing_secret(trigger=trigger, by=None)
    selectors.trigger_by_token(token=trigger.token)
    cached = cache.get(selectors._token_key(trigger.token))
    assert cached["pk"] == trigger.pk
    assert secret not in json.dumps(cached)
    assert trigger.token not in selectors._token_key(trigger.token)


def test_it_gives_each_lookup_a_trigger_of_its_own(make_trigger):
    from triggers import selectors

    trigger = make_trigger()
    first = selectors.trigger_by_token(token=trigger.token)
    first.enabled = False  # What one request does to its trigger stays with that request.
    assert first.workspace.pk == trigger.workspace_id and first.last_fired_at is None  # Loaded on this one only.
    second = selectors.trigger_by_token(token=trigger.token)
    assert second is not first and second.enabled
    assert second._state is not first._state and not second._state.adding and second._state.db == "default"
    assert "workspace" not in second._state.fields_cache and "last_fired_at" in second.get_deferred_fields()
    assert second.compiled_rules() is first.compiled_rules()  # Compiled once per entry, shared.


def test_it_reads_the_fields_intake_does_not_cache_from_the_database(make_trigger):
    from triggers import selectors

    trigger = make_trigger(kind="conditional", rules=BIG_ORDER_RULES, cooldown=600)
    type(trigger).objects.filter(pk=trigger.pk).update(last_fired_at="2026-03-01T10:00:00Z")

    looked_up = selectors.trigger_by_token(token=trigger.token)

    assert (looked_up.pk, looked_up.workspace_id, looked_up.cooldown) == (trigger.pk, trigger.workspace_id, 600)
    assert looked_up.last_fired_at.isoformat() == "2026-03-01T10:00:00+00:00"
    assert looked_up.compiled_rules()({"order": {"total": 80}}).matched is True
    assert looked_up.compiled_rules()({"order": {"total": 12}}).matched is False


def test_it_sees_another_processs_change_within_the_local_cache_time(make_trigger, post_event, monkeypatch):
    from cachetools import TTLCache

    from triggers import cache, selectors

    now = [0.0]
    monkeypatch.setattr(selectors, "_local", TTLCache(maxsize=100, ttl=selectors.LOCAL_CACHE_SECONDS, timer=lambda: now[0]))
    trigger = make_trigger()
    assert post_event(trigger).status_code == 202
    # Another process disables it: the database and the shared cache change, not this process's entry.
    type(trigger).objects.filter(pk=trigger.pk).update(enabled=False)
    cache.delete_many([selectors._token_key(trigger.token)])

    assert post_event(trigger).status_code == 202
    now[0] += selectors.LOCAL_CACHE_SECONDS + 0.1
    assert post_event(trigger).status_code == 409


@pytest.mark.django_db(transaction=True)
def test_it_answers_404_when_the_trigger_was_deleted_after_its_lookup_was_cached(make_trigger, post_event):
    trigger = make_trigger()
    assert post_event(trigger).status_code == 202
    type(trigger).objects.filter(pk=trigger.pk).delete()  # Bypasses the service, so the cache still has it.
    response = post_event(trigger)
    assert response.status_code == 404
    assert response.json()["error"] == "unknown_token"


def test_it_accepts_the_url_without_its_trailing_slash(make_trigger, client):
    trigger = make_trigger()
    response = client.post(f"/hooks/triggers/{trigger.token}", data={"a": 1}, content_type="application/json")
    assert response.status_code == 202


def test_it_resolves_the_event_url_with_the_first_pattern_of_the_urlconf():
    # Senders post here at volume: no include() on the way, no other pattern tried first.
    first = get_resolver().url_patterns[0]
    assert isinstance(first, URLPattern)
    assert first.callback is views.trigger_hook
    assert resolve("/hooks/triggers/abc/").route == first.pattern._route


# Without a database -------------------------------------------------------------------------------


def test_it_answers_503_and_keeps_nothing_when_the_database_is_down(make_trigger, post_event):
    trigger = make_trigger()

    def refuse_inserts(execute, sql, params, many, context):
        # The database goes away between reading the trigger and writing the event and its runs.
        if sql.lstrip().upper().startswith("INSERT"):
            raise OperationalError("server closed the connection unexpectedly")
        return execute(sql, params, many, context)

    with connection.execute_wrapper(refuse_inserts):
        response = post_event(trigger)

    assert response.status_code == 503
    assert response.json()["error"] == "unavailable"
    assert response["Retry-After"] == "30"
    assert_nothing_stored()


def test_it_refuses_even_when_the_refusal_cannot_be_counted(make_trigger, post_event, monkeypatch):
    trigger = make_trigger()
    monkeypatch.setattr(services, "_count_rejection", database_down)

    response = post_event(trigger, b"not json")

    assert response.status_code == 400
    assert response.json()["error"] == "not_json"
