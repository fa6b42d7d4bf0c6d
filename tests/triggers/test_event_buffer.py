"""Events that start nothing wait in a Redis stream and are written in batches, each exactly once."""

import json
import os
import uuid
from datetime import UTC, datetime

import pytest
import redis
import time_machine

from campaigns.models import CampaignExecution
from marketing import redis_client
from triggers import event_buffer, selectors, services
from triggers.models import TriggerEvent
from triggers.tasks import flush_buffered_events

from .conftest import BIG_ORDER_RULES, database_down

needs_redis = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs Redis: make test uses it when 127.0.0.1:6379 answers, or set REDIS_URL")
SMALL_ORDER = {"order": {"total": 12}}


@pytest.fixture
def buffered(settings):
    """The buffer on, in a stream of this test's own."""
    settings.TRIGGER_EVENT_BUFFER = True
    settings.TRIGGER_EVENT_STREAM = stream = f"test-trigger-events-{uuid.uuid4().hex}"
    yield stream
    settings.TRIGGER_EVENT_BUFFER, settings.TRIGGER_EVENT_STREAM = True, stream
    event_buffer.drop()


@pytest.fixture
def conditional(make_trigger):
    return make_trigger(kind="conditional", rules=BIG_ORDER_RULES)


@needs_redis
def test_it_answers_an_event_that_starts_nothing_at_once_and_writes_it_in_the_flush(buffered, conditional, post_event):
    with time_machine.travel(datetime(2026, 11, 25, 9, 30, tzinfo=UTC), tick=False):
        response = post_event(conditional, SMALL_ORDER)
    assert response.status_code == 202
    body = response.json()
    assert body["matched"] is False and body["skipped"] == "not_matched"
    assert not TriggerEvent.objects.exists()
    assert event_buffer.waiting() == 1

    assert event_buffer.flush() == 1

    event = TriggerEvent.objects.get()
    assert str(event.uuid) == body["event"]
    assert event.received_at == datetime(2026, 11, 25, 9, 30, tzinfo=UTC)  # arrival, not writing
    assert (event.trigger_id, event.workspace_id) == (conditional.pk, conditional.workspace_id)
    assert event.payload == SMALL_ORDER
    [shown] = selectors.events_explained([event])
    assert shown.shown_decision["rules"][0]["reason"] == "`order.total` was 12, needed > 50"
    assert event.source == "event" and event.skipped_reason == "not_matched" and not event.matched
    assert event_buffer.waiting() == 0


@needs_redis
def test_it_writes_a_matching_event_at_once_with_its_runs(buffered, conditional, post_event):
    response = post_event(conditional, {"order": {"total": 80}})
    assert response.status_code == 202
    event = TriggerEvent.objects.get()
    assert str(event.uuid) == response.json()["event"] and event.fired
    assert CampaignExecution.objects.get().trigger_events.get() == event
    assert event_buffer.waiting() == 0


@needs_redis
def test_it_writes_the_batch_from_the_request_that_finds_enough_waiting(buffered, conditional, post_event, monkeypatch):
    monkeypatch.setattr(event_buffer, "FLUSH_AT", 3)
    post_event(conditional, SMALL_ORDER)
    post_event(conditional, SMALL_ORDER)
    assert not TriggerEvent.objects.exists()

    post_event(conditional, SMALL_ORDER)

    assert TriggerEvent.objects.count() == 3
    assert event_buffer.waiting() == 0


@needs_redis
def test_it_tries_to_write_once_per_batch_while_a_flush_is_under_way(buffered, conditional, post_event, monkeypatch, settings):
    monkeypatch.setattr(event_buffer, "FLUSH_AT", 2)
    tries = []
    flush = event_buffer.flush
    monkeypatch.setattr(event_buffer, "flush", lambda **kwargs: tries.append(event_buffer.waiting()) or flush(**kwargs))
    lock = redis_client.client(settings.REDIS_URL).lock(f"{buffered}:flush", timeout=5)
    assert lock.acquire(blocking=False)
    try:
        for _ in range(3):
            post_event(conditional, SMALL_ORDER)
    finally:
        lock.release()
    assert tries == [2] and not TriggerEvent.objects.exists()

    post_event(conditional, SMALL_ORDER)

    assert tries == [2, 4] and TriggerEvent.objects.count() == 4


@needs_redis
def test_it_stores_a_batch_written_again_after_a_crash_once(buffered, conditional, post_event, monkeypatch):
    answers = [post_event(conditional, SMALL_ORDER).json()["event"] for _ in range(3)]
    client = redis_client.client(os.environ["REDIS_URL"])

    def crash(*args):
        raise redis.ConnectionError("lost Redis after the insert")

    # The rows are committed, then the process dies before trimming the stream.
    monkeypatch.setattr(type(client), "xdel", crash)
    with pytest.raises(redis.ConnectionError):
        event_buffer.flush()
    monkeypatch.undo()
    assert event_buffer.waiting() == 3

    event_buffer.flush()

    assert sorted(str(u) for u in TriggerEvent.objects.values_list("uuid", flat=True)) == sorted(answers)
    assert event_buffer.waiting() == 0


@needs_redis
def test_it_drops_the_events_of_a_trigger_deleted_meanwhile(buffered, conditional, post_event, make_trigger, campaign):
    kept = make_trigger(name="Kept", kind="conditional", rules=BIG_ORDER_RULES)
    post_event(conditional, SMALL_ORDER)
    post_event(kept, SMALL_ORDER)
    services.trigger_delete(trigger=conditional, by=None)

    assert event_buffer.flush() == 1

    assert list(TriggerEvent.objects.values_list("trigger_id", flat=True)) == [kept.pk]
    assert event_buffer.waiting() == 0


@needs_redis
def test_it_flushes_one_batch_at_a_time(buffered, conditional, post_event, settings):
    post_event(conditional, SMALL_ORDER)
    lock = redis_client.client(settings.REDIS_URL).lock(f"{buffered}:flush", timeout=5)
    assert lock.acquire(blocking=False)
    try:
        assert event_buffer.flush() == 0
        assert not TriggerEvent.objects.exists()
    finally:
        lock.release()
    assert event_buffer.flush() == 1


@needs_redis
def test_it_writes_what_waits_when_beat_runs(buffered, conditional, post_event):
    for _ in range(5):
        post_event(conditional, SMALL_ORDER)
    assert flush_buffered_events.delay().get() == 5
    assert TriggerEvent.objects.count() == 5


def test_it_writes_the_event_at_once_without_redis_answering(settings, redis_down, conditional, post_event, caplog):
    settings.TRIGGER_EVENT_BUFFER = True  # Redis configured, the buffer on, and nothing answers
    response = post_event(conditional, SMALL_ORDER)
    assert response.status_code == 202
    assert "trigger event buffer unavailable: writing the event at once" in caplog.messages
    assert str(TriggerEvent.objects.get().uuid) == response.json()["event"]


def test_it_writes_every_event_at_once_with_the_buffer_off(settings, conditional, post_event):
    settings.TRIGGER_EVENT_BUFFER = False
    post_event(conditional, SMALL_ORDER)
    assert TriggerEvent.objects.count() == 1
    assert event_buffer.waiting() == 0 and event_buffer.flush() == 0


def _append_raw(stream: str, **fields) -> None:
    redis_client.client(os.environ["REDIS_URL"]).xadd(stream, fields)


@needs_redis
def test_it_drops_an_unreadable_entry_without_blocking_the_rest(buffered, conditional, post_event):
    _append_raw(buffered, junk="left by something else")
    post_event(conditional, SMALL_ORDER)

    assert event_buffer.flush() == 1

    assert TriggerEvent.objects.count() == 1
    assert event_buffer.waiting() == 0


@needs_redis
def test_it_drops_a_row_the_database_refuses_and_writes_the_others(buffered, conditional, post_event):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("only PostgreSQL's jsonb refuses \\u0000")
    post_event(conditional, SMALL_ORDER)
    good = TriggerEvent(trigger=conditional, workspace_id=conditional.workspace_id, source="event", payload={}, decision={})
    row = [uuid.uuid4().hex, conditional.workspace_id, conditional.pk, good.received_at.isoformat(), "event", False, "not_matched"]
    _append_raw(buffered, row=json.dumps(row), payload='{"a": "\\u0000"}', decision="{}")
    post_event(conditional, SMALL_ORDER)

    assert event_buffer.flush() == 2

    assert TriggerEvent.objects.count() == 2
    assert event_buffer.waiting() == 0


@needs_redis
def test_it_refuses_a_json_null_event_and_buffers_nothing(buffered, make_trigger, post_event):
    trigger = make_trigger(kind="conditional", rules={"match": "all", "rules": [{"path": "a", "op": "exists"}]})
    assert post_event(trigger, "null").status_code == 400

    event_buffer.flush()

    assert not TriggerEvent.objects.exists()


# The rate limit, counted in the same round trip as the append ----------------------------------


@needs_redis
def test_it_counts_buffered_events_under_the_rate_limit_and_keeps_none_past_it(buffered, conditional, post_event, settings):
    from triggers.models import TriggerRejection

    settings.TRIGGER_EVENT_RATE = "3/minute"
    responses = [post_event(conditional, SMALL_ORDER) for _ in range(5)]

    assert [r.status_code for r in responses] == [202, 202, 202, 429, 429]
    assert responses[3].json()["error"] == "rate_limited"
    assert 1 <= int(responses[3]["Retry-After"]) <= 60
    assert event_buffer.waiting() == 3
    assert TriggerRejection.objects.get(trigger=conditional).count == 2
    assert event_buffer.flush() == 3


@needs_redis
def test_it_counts_refused_matching_and_buffered_requests_on_one_counter(buffered, conditional, post_event, settings):
    settings.TRIGGER_EVENT_RATE = "3/minute"
    assert post_event(conditional, b"not json").status_code == 400
    assert post_event(conditional, {"order": {"total": 80}}).status_code == 202  # matches: written at once
    assert post_event(conditional, SMALL_ORDER).status_code == 202  # buffered

    assert post_event(conditional, SMALL_ORDER).status_code == 429
    assert post_event(conditional, {"order": {"total": 80}}).status_code == 429
    assert post_event(conditional, b"not json").status_code == 429
    assert event_buffer.waiting() == 1


@needs_redis
def test_it_takes_events_that_start_nothing_while_the_database_is_down(buffered, conditional, post_event, monkeypatch):
    from django.db import OperationalError

    post_event(conditional, SMALL_ORDER)  # The trigger's lookup is cached, as it is under traffic.
    monkeypatch.setattr(TriggerEvent, "save", database_down)
    monkeypatch.setattr(event_buffer, "_write", database_down)
    assert post_event(conditional, SMALL_ORDER).status_code == 202
    assert event_buffer.waiting() == 2
    with pytest.raises(OperationalError):
        event_buffer.flush()
    monkeypatch.undo()

    assert event_buffer.flush() == 2


@needs_redis
def test_it_writes_events_at_once_when_the_buffer_is_full_and_counts_them_once(buffered, conditional, post_event, settings, monkeypatch):
    monkeypatch.setattr(event_buffer, "MAX_WAITING", 2)
    settings.TRIGGER_EVENT_RATE = "4/minute"
    post_event(conditional, SMALL_ORDER)
    post_event(conditional, SMALL_ORDER)

    assert post_event(conditional, SMALL_ORDER).status_code == 202
    assert post_event(conditional, SMALL_ORDER).status_code == 202

    assert event_buffer.waiting() == 2 and TriggerEvent.objects.count() == 2
    assert post_event(conditional, SMALL_ORDER).status_code == 429  # four counted, not six


# Signed events: the replay record set in the same round trip ------------------------------------


def _signed(trigger, secret: str, body: dict) -> tuple[bytes, str]:
    from marketing.webhooks import signature

    data = json.dumps(body).encode()
    return data, signature.sign(secret=secret, target=trigger.token, body=data)


@pytest.fixture
def signed_conditional(conditional):
    conditional.secret = services.trigger_set_signing_secret(trigger=conditional, by=None)
    return conditional


@needs_redis
def test_it_refuses_a_replay_of_a_buffered_event_and_buffers_it_once(buffered, signed_conditional, post_event):
    body, header = _signed(signed_conditional, signed_conditional.secret, SMALL_ORDER)
    first = post_event(signed_conditional, body, X_Signature=header)
    again = post_event(signed_conditional, body, X_Signature=header)

    assert first.status_code == 202
    assert again.status_code == 409 and again.json()["error"] == "replayed"
    assert event_buffer.waiting() == 1
    assert event_buffer.flush() == 1 and TriggerEvent.objects.count() == 1


@needs_redis
def test_it_counts_a_refused_replay_once_under_the_rate_limit(buffered, signed_conditional, post_event, settings):
    settings.TRIGGER_EVENT_RATE = "3/minute"
    body, header = _signed(signed_conditional, signed_conditional.secret, SMALL_ORDER)
    statuses = [post_event(signed_conditional, body, X_Signature=header).status_code for _ in range(3)]
    other, other_header = _signed(signed_conditional, signed_conditional.secret, {"order": {"total": 13}})

    assert statuses == [202, 409, 409]
    assert post_event(signed_conditional, other, X_Signature=other_header).status_code == 429


@needs_redis
def test_it_takes_a_signed_event_refused_by_the_rate_limit_when_sent_again_later(buffered, signed_conditional, post_event, settings):
    from marketing import ratelimit

    settings.TRIGGER_EVENT_RATE = "1/minute"
    first, first_header = _signed(signed_conditional, signed_conditional.secret, SMALL_ORDER | {"n": 1})
    assert post_event(signed_conditional, first, X_Signature=first_header).status_code == 202
    body, header = _signed(signed_conditional, signed_conditional.secret, SMALL_ORDER)
    assert post_event(signed_conditional, body, X_Signature=header).status_code == 429

    ratelimit.reset()

    assert post_event(signed_conditional, body, X_Signature=header).status_code == 202


@needs_redis
def test_it_writes_a_signed_event_at_once_when_the_buffer_is_full_and_still_refuses_its_replay(
    buffered, signed_conditional, post_event, monkeypatch
):
    monkeypatch.setattr(event_buffer, "MAX_WAITING", 1)
    body, header = _signed(signed_conditional, signed_conditional.secret, SMALL_ORDER | {"n": 1})
    assert post_event(signed_conditional, body, X_Signature=header).status_code == 202
    body, header = _signed(signed_conditional, signed_conditional.secret, SMALL_ORDER | {"n": 2})

    assert post_event(signed_conditional, body, X_Signature=header).status_code == 202
    assert post_event(signed_conditional, body, X_Signature=header).status_code == 409

    assert event_buffer.waiting() == 1 and TriggerEvent.objects.count() == 1
