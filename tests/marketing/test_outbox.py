"""Sending many tasks at once: every one reaches the broker once, or waits in the outbox."""

import base64
import json
import os
from unittest import mock

import pytest
from django.conf import settings as django_settings
from kombu import Producer, messaging as kombu_messaging
from kombu.exceptions import BatchPublishError
from kombu.transport.redis import PublishBatch

from campaigns.tasks import run_execution
from marketing import outbox
from marketing.models import OutboxTask

needs_redis = pytest.mark.skipif(not django_settings.REDIS_URL, reason="needs Redis (REDIS_URL)")


@pytest.fixture
def redis_queue(settings):
    """Routes the run task to a Redis queue of the test's own, deleted afterwards: its client and name."""
    app = run_execution.app  # the app the task sends through, which a test may have changed
    name = f"test-outbox-{os.getpid()}"
    saved = app.conf.task_routes, app.conf.task_always_eager
    settings.CELERY_TASK_ALWAYS_EAGER = False
    app.conf.task_routes, app.conf.task_always_eager = {run_execution.name: {"queue": name}}, False
    _new_router(app)
    with app.connection_for_write() as connection:
        client = connection.default_channel.client
        client.delete(name)
        try:
            yield client, name
        finally:
            client.delete(name)
            app.conf.task_routes, app.conf.task_always_eager = saved
            _new_router(app)


@pytest.fixture
def queue(redis_queue):
    """Reads back the first argument of every task in the queue."""
    client, name = redis_queue
    return lambda: [_first_argument(raw) for raw in client.lrange(name, 0, -1)]


@pytest.fixture
def take_messages(redis_queue):
    """Takes every message out of the queue, as kombu stored it in Redis, with its body decoded."""
    client, name = redis_queue

    def take() -> list[dict]:
        raw = client.pipeline().lrange(name, 0, -1).delete(name).execute()[0]
        return [_decoded(message) for message in raw]

    return take


def _new_router(app) -> None:
    # Celery reads task_routes once into a router it keeps: a change of queue needs a new one.
    app.amqp.flush_routes()
    vars(app.amqp).pop("router", None)


def _first_argument(raw: bytes):
    """The first argument of the task in a Celery message as kombu stores it in Redis."""
    args, _kwargs, _embed = _decoded(raw)["body"]
    return args[0]


def _decoded(raw: bytes) -> dict:
    message = json.loads(raw)
    assert message["properties"]["body_encoding"] == "base64"
    return {**message, "body": json.loads(base64.b64decode(message["body"]))}


def _by_arguments(messages: list[dict]) -> dict[str, dict]:
    """Messages keyed by their arguments, each with its own task id written as "<id>" wherever it
    appears (an id of another message stays as it is) and without kombu's delivery tag."""
    keyed = {}
    for message in messages:
        message = {**message, "properties": {**message["properties"]}}
        del message["properties"]["delivery_tag"]  # kombu's, a new uuid per message
        keyed[json.dumps(message["body"][0])] = _without_id(message, message["headers"]["id"])
    assert len(keyed) == len(messages)
    return keyed


def _without_id(value, task_id: str):
    """``value`` with ``task_id`` written as "<id>" wherever it appears in it."""
    return json.loads(json.dumps(value, sort_keys=True).replace(task_id, "<id>"))


@run_execution.app.task(name="tests.marketing.test_outbox.run_in_a_task")
def run_in_a_task(function):
    """Calls ``function`` inside a task the way a worker runs one: the tasks it sends are its children."""
    return function()


@needs_redis
@pytest.mark.django_db
def test_it_sends_many_tasks_in_batches_each_once(queue, monkeypatch):
    monkeypatch.setattr(outbox, "SEND_CHUNK", 7)  # several batches, the last one short
    outbox.send_many(run_execution, [(n,) for n in range(30)])
    assert sorted(queue()) == list(range(30))
    assert not OutboxTask.objects.exists()


@needs_redis
@pytest.mark.django_db
def test_it_declares_the_tasks_queue_once_per_batch_not_per_message(queue, monkeypatch):
    monkeypatch.setattr(outbox, "SEND_CHUNK", 7)
    with mock.patch("kombu.messaging.maybe_declare", wraps=kombu_messaging.maybe_declare) as declare:
        outbox.send_many(run_execution, [(n,) for n in range(30)])

    assert declare.call_count == 5  # batches of 7, 7, 7, 7 and 2
    assert sorted(queue()) == list(range(30))


@needs_redis
@pytest.mark.django_db
def test_it_keeps_a_batch_that_failed_and_every_later_one_in_the_outbox(queue, monkeypatch):
    monkeypatch.setattr(outbox, "SEND_CHUNK", 5)
    flush = PublishBatch.flush
    calls = {"n": 0}

    def failing_second_flush(self):
        calls["n"] += bool(self._buffered)  # a flush with nothing buffered sends nothing
        if self._buffered and calls["n"] == 2:
            raise BatchPublishError("Redis publish batch failed; delivery is uncertain")
        return flush(self)

    with mock.patch.object(PublishBatch, "flush", failing_second_flush):
        outbox.send_many(run_execution, [(n,) for n in range(12)])
    # The first batch went out; the failed one may or may not have, so it waits with the rest.
    assert sorted(queue()) == [0, 1, 2, 3, 4]
    assert sorted(args[0] for args in OutboxTask.objects.values_list("args", flat=True)) == list(range(5, 12))


# Arguments whose repr Celery shortens, nests or leaves as it is.
CALLS = [(7,), ("x" * 2000,), ({"nested": [[[[["deep"]]]]], "n": 1.5},)]


@needs_redis
@pytest.mark.django_db
def test_it_sends_a_batch_exactly_as_apply_async_sends_each_task(take_messages, monkeypatch):
    monkeypatch.setitem(run_execution.app.conf, "task_repr_maxlevels", 2)  # not Celery's default
    published, kombu_publish = [], Producer.publish

    def publish(producer, body, **options):
        published.append((body, options))
        return kombu_publish(producer, body, **options)

    with mock.patch.object(Producer, "publish", publish):
        outbox.send_many(run_execution, CALLS)
        batch = take_messages()
        for args in CALLS:
            run_execution.apply_async(args)
        one_by_one = take_messages()

    assert len(batch) == len(CALLS)
    assert _by_arguments(batch) == _by_arguments(one_by_one)
    # What kombu was handed, also what Redis does not keep; a batch declares the queue once and
    # does not retry (send_many).
    handed = [
        _without_id((body, {k: v for k, v in options.items() if k not in ("declare", "retry")}), options["headers"]["id"])
        for body, options in published
    ]
    assert handed[: len(CALLS)] == handed[len(CALLS) :]
    # Each its own task, its own root without a parent.
    assert len({message["headers"]["id"] for message in batch}) == len(CALLS)
    assert all(message["headers"]["root_id"] == message["headers"]["id"] for message in batch)


@needs_redis
@pytest.mark.django_db
def test_it_sends_a_batch_from_a_task_as_children_of_that_task(take_messages):
    def send():
        outbox.send_many(run_execution, CALLS)
        for args in CALLS:
            run_execution.apply_async(args)

    # A task run by a task: its own id differs from its root's.
    run_in_a_task.apply((lambda: run_in_a_task.apply((send,), task_id="parent", throw=True),), task_id="root", throw=True)
    messages = take_messages()

    assert [(m["headers"]["root_id"], m["headers"]["parent_id"]) for m in messages] == [("root", "parent")] * 2 * len(CALLS)
    first_sent, second_sent = messages[len(CALLS) :], messages[: len(CALLS)]  # pushed on the list's head
    assert _by_arguments(first_sent) == _by_arguments(second_sent)
