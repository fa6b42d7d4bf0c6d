"""Sending Celery tasks so that a broker outage loses nothing and answers no request with a 500.

``send`` queues a task at once; when the broker cannot be reached the task is written to the
``OutboxTask`` table instead, with a log line, and ``drain`` (beat, every 30 seconds) sends what
waits there as soon as the broker is back. Tasks must therefore be
safe to receive twice, as they already are for redelivery (runs and generations claim their row
with a compare-and-set).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

from celery import Task
from django.db import connection, transaction
from kombu.exceptions import BatchPublishError, OperationalError as KombuOperationalError
from redis.exceptions import RedisError

from .models import OutboxTask

logger = logging.getLogger(__name__)

# A failed publish batch raises BatchPublishError (delivery uncertain) around the Redis error.
BROKER_ERRORS = (KombuOperationalError, BatchPublishError, RedisError, OSError)
# Messages per pipelined round trip to the broker.
SEND_CHUNK = 500


def send(task: Task, *args) -> None:
    """Queues ``task(*args)``, or keeps it in the outbox while the broker is down."""
    send_many(task, [args])


def send_on_commit(task: Task, *args) -> None:
    transaction.on_commit(lambda: send(task, *args))


def send_many(task: Task, calls: Iterable[Sequence]) -> None:
    """Queues ``task`` once per argument tuple over one broker connection; what could not be sent waits in the outbox.

    On Redis the messages of a chunk go out in one pipelined round trip (kombu's publish batch)
    instead of one per task. A chunk that fails may have been delivered in part, so all of it
    waits in the outbox: a task may then arrive twice, which every task here already survives.
    """
    calls = [tuple(args) for args in calls]
    if not calls:
        return
    if task.app.conf.task_always_eager:
        # Tests and `CELERY_TASK_ALWAYS_EAGER`: the task runs here and no broker is involved.
        for args in calls:
            task.apply_async(args)
        return
    sent = 0
    try:
        if len(calls) == 1:
            task.apply_async(calls[0])
            sent = 1
        else:
            with task.app.producer_or_acquire() as producer:
                # Transports without batches (the filesystem one) publish each message at once. In
                # a batch a publish only buffers, and the send when the block ends is never
                # retried, so a retry policy around the buffering would only cost time.
                retry = not producer.supports_batch_publish
                for start in range(0, len(calls), SEND_CHUNK):
                    chunk = calls[start : start + SEND_CHUNK]
                    with producer.batch(max_size=len(chunk)):
                        task.apply_async(chunk[0], producer=producer, retry=retry)
                        # The same task, so the same queue (routes here go by task name): it was
                        # declared with the first message. Declaring it again for each message made
                        # kombu copy and bind the queue every time, a fifth of a message's cost.
                        for args in chunk[1:]:
                            task.apply_async(args, producer=producer, retry=retry, declare=[])
                    sent += len(chunk)
    except BROKER_ERRORS as error:
        left = calls[sent:]
        logger.warning(
            "broker unavailable: tasks kept in the outbox", extra={"task": task.name, "count": len(left), "error": str(error)[:200]}
        )
        OutboxTask.objects.bulk_create(OutboxTask(task=task.name, args=list(args), last_error=str(error)[:300]) for args in left)


def drain(*, limit: int = 500) -> int:
    """Sends the tasks waiting in the outbox, oldest first; stops at the first broker error. Returns how many were sent."""
    from marketing.celery import app

    with transaction.atomic():
        waiting = OutboxTask.objects.order_by("id")
        if connection.features.has_select_for_update_skip_locked:
            waiting = waiting.select_for_update(skip_locked=True)
        rows = list(waiting[:limit])
        if not rows:
            return 0
        sent: list[int] = []
        try:
            with app.producer_or_acquire() as producer:
                for row in rows:
                    app.tasks[row.task].apply_async(tuple(row.args), producer=producer)
                    sent.append(row.pk)
        except BROKER_ERRORS as error:
            OutboxTask.objects.filter(pk__in=[row.pk for row in rows[len(sent) :]]).update(last_error=str(error)[:300])
        OutboxTask.objects.filter(pk__in=sent).delete()
    if sent:
        logger.info("outbox drained", extra={"count": len(sent)})
    return len(sent)
