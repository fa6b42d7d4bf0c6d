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
from celery.utils import uuid
from celery.utils.saferepr import saferepr
from django.db import connection, transaction
from kombu import Producer
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
                        # The same task, so the same queue (routes here go by task name): it is
                        # declared with the first message only. Declaring it again for each message
                        # made kombu copy and bind the queue every time, a fifth of a message's cost.
                        if _copyable(task):
                            _publish_copies(task, chunk, producer, retry=retry)
                        else:
                            task.apply_async(chunk[0], producer=producer, retry=retry)
                            for args in chunk[1:]:
                                task.apply_async(args, producer=producer, retry=retry, declare=[])
                    sent += len(chunk)
    except BROKER_ERRORS as error:
        left = calls[sent:]
        logger.warning(
            "broker unavailable: tasks kept in the outbox", extra={"task": task.name, "count": len(left), "error": str(error)[:200]}
        )
        OutboxTask.objects.bulk_create(OutboxTask(task=task.name, args=list(args), last_error=str(error)[:300]) for args in left)


def _copyable(task: Task) -> bool:
    """Whether a call's message is another call's with only its id and arguments changed.

    Not when the task's messages depend on the clock (``expires``) or rewrite the arguments or
    name per call (pydantic models, a ``shadow_name`` of its own): Celery builds each of those.
    """
    return task.expires is None and task._dump_pydantic_arguments is None and task.shadow_name.__func__ is Task.shadow_name


def _publish_copies(task: Task, calls: list[tuple], producer: Producer, *, retry: bool) -> None:
    """Publishes ``task`` once per argument tuple, each message as ``task.apply_async(args)`` would build it.

    Celery builds the first message; the others are copies of it with the task id and the
    arguments (and their repr) replaced. ``apply_async`` spent three times as long as kombu's
    publish on each message, reading settings, options and routes again, all of which depend on
    the task only (routes go by task name). Every message still goes out through Celery's
    ``send_task_message``: exchange and routing key, serializer, compression, publish signals.
    """
    app = task.app
    amqp = app.amqp
    name, ignore_result = task.name, task.ignore_result
    # What Task.apply_async and Celery.send_task do for a call with no options of its own.
    options = amqp.router.route(dict(task._get_exec_options(), retry=retry), name, calls[0], {}, task)
    time_limit, soft_time_limit = options.pop("time_limit", None), options.pop("soft_time_limit", None)
    root_id = parent_id = None
    parent = app.current_worker_task  # a dispatch running in a worker: the messages are its children
    if parent:
        root_id, parent_id = parent.request.root_id or parent.request.id, parent.request.id
        if app.conf.task_inherit_parent_priority:
            options.setdefault("priority", parent.request.delivery_info.get("priority"))

    def send(task_id: str, message, send_options: dict) -> None:
        if not ignore_result:
            app.backend.on_task_call(producer, task_id)
        amqp.send_task_message(producer, name, message, **send_options)
        if parent:
            result = task.AsyncResult(task_id)
            result.ignored = ignore_result
            parent.add_trail(result)

    # A call that does not fit the task's signature raises, as in apply_async.
    check = getattr(task, "__header__", None) if task.typing else None
    if check:
        check(*calls[0])
    first_id = uuid()
    first = amqp.create_task_message(
        first_id, name, calls[0], None,
        reply_to=app.thread_oid, time_limit=time_limit, soft_time_limit=soft_time_limit,
        create_sent_event=app.conf.task_send_sent_event, root_id=root_id, parent_id=parent_id,
        ignore_result=ignore_result, **options,
    )  # fmt: skip
    # send_task_message adds options to the message's dicts: the copies start from them unsent.
    headers, properties, (_, kwargs, embed), sent_event = first
    headers, properties = dict(headers), dict(properties)
    send(first_id, first, options)
    options["declare"] = []  # the queue went with the first message (send_many)
    repr_levels = app.conf.task_repr_maxlevels
    for args in calls[1:]:
        if check:
            check(*args)
        task_id = uuid()
        argsrepr = saferepr(args, amqp.argsrepr_maxsize, maxlevels=repr_levels)
        root = root_id or task_id  # without a parent a task is its own root
        message = first._replace(
            headers={**headers, "id": task_id, "root_id": root, "argsrepr": argsrepr},
            properties={**properties, "correlation_id": task_id},
            body=(args, kwargs, embed),
            sent_event=sent_event and {**sent_event, "uuid": task_id, "root_id": root, "args": argsrepr},
        )
        send(task_id, message, options)


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
