"""Sending many tasks at once: every one reaches the broker once, or waits in the outbox."""

import base64
import json
import os
from unittest import mock

import pytest
from django.conf import settings as django_settings
from kombu import messaging as kombu_messaging
from kombu.exceptions import BatchPublishError
from kombu.transport.redis import PublishBatch

from campaigns.tasks import run_execution
from marketing import outbox
from marketing.models import OutboxTask

needs_redis = pytest.mark.skipif(not django_settings.REDIS_URL, reason="needs Redis (REDIS_URL)")


@pytest.fixture
def queue(settings):
    """Routes the run task to a Redis queue of the test's own, read back and deleted afterwards."""
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
            yield lambda: [_first_argument(raw) for raw in client.lrange(name, 0, -1)]
        finally:
            client.delete(name)
            app.conf.task_routes, app.conf.task_always_eager = saved
            _new_router(app)


def _new_router(app) -> None:
    # Celery reads task_routes once into a router it keeps: a change of queue needs a new one.
    app.amqp.flush_routes()
    vars(app.amqp).pop("router", None)


def _first_argument(raw: bytes):
    """The first argument of the task in a Celery message as kombu stores it in Redis."""
    args, _kwargs, _embed = json.loads(base64.b64decode(json.loads(raw)["body"]))
    return args[0]


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
