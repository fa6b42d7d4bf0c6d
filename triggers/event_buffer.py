"""Inbound events that start nothing, buffered in a Redis stream and written to the database in batches.

Most events match no rule. Writing each one's row while its sender waits costs more than all the
rest of the intake together, so with Redis (REDIS_URL) such an event is appended to a stream in
the Redis that also holds the queued tasks, and the sender gets its 202 then. The rows are
written in batches, with COPY on PostgreSQL: by each request that brings the events waiting to
a multiple of FLUSH_AT, and by beat every two seconds for the rest. An event that matches is
written at once, in the transaction that starts its runs.

Each event carries a UUID made on arrival, unique in the table: a batch written again after a
crash between the insert and the stream's trim is written with ON CONFLICT DO NOTHING and
stores nothing twice. Without Redis, with TRIGGER_EVENT_BUFFER off, or when Redis does not
answer, an event is written before it is answered.
"""

import functools
import json
import logging
import uuid
from datetime import datetime
from typing import NamedTuple

import redis
from django.conf import settings
from django.db import DataError, IntegrityError, connection, transaction
from prometheus_client import Counter, Gauge

from marketing import ratelimit, redis_client

from .models import Trigger, TriggerEvent

logger = logging.getLogger(__name__)

# A batch costs ~1.8 ms of CPU whatever its size (the lock, the round trips, the trigger check,
# the transaction) and ~16 us a row: at 250 rows the fixed part is 7 us an event, at 100 it
# was 18. The request that writes waits for the batch (tens of ms under load); beat writes what
# waits every two seconds whatever the count.
FLUSH_AT = 250
FLUSH_BATCH = 1000
# Past this many events waiting (the writes have been failing for a while), events are written
# at once again, or refused with a 503 while the database is down, so Redis's memory stays bounded.
MAX_WAITING = 100_000
LOCK_SECONDS = 60

WRITTEN = Counter("trigger_events_buffer_written_total", "Buffered trigger events written to the database.")
DROPPED = Counter(
    "trigger_events_buffer_dropped_total",
    "Buffered trigger events not written: their trigger was deleted meanwhile, or the database refused them.",
    ["reason"],
)


# JSON text as the buffer keeps it, compact. One encoder for every event: json.dumps with options
# builds one per call. What it encodes comes from json.loads or is built fresh, never circular.
to_json = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), check_circular=False).encode


def enabled() -> bool:
    return bool(settings.REDIS_URL) and settings.TRIGGER_EVENT_BUFFER


def _redis() -> redis.Redis:
    # Every buffered event sends a command: on the thread's own connection (see thread_client).
    return redis_client.thread_client(settings.REDIS_URL)


def _stream() -> str:
    return settings.TRIGGER_EVENT_STREAM


class Row(NamedTuple):
    """A buffered event as the stream keeps it and COPY writes it (its fields in _COPIED's
    order): the payload and the decision as JSON text, the UUID in hex and the arrival time in
    ISO 8601. Building it costs a fraction of a TriggerEvent instance, which the buffered path
    never needs, and a tuple a fraction of a frozen dataclass."""

    uuid: str
    workspace_id: int
    trigger_id: int
    received_at: str
    source: str
    matched: bool
    skipped_reason: str
    payload: str
    decision: str

    @classmethod
    def from_entry(cls, fields: dict[bytes, bytes]) -> "Row":
        return cls(*json.loads(fields[b"row"]), fields[b"payload"].decode(), fields[b"decision"].decode())

    def entry(self) -> list:
        """The stream entry's fields and values, as XADD takes them."""
        row = [self.uuid, self.workspace_id, self.trigger_id, self.received_at, self.source, self.matched, self.skipped_reason]
        return ["row", to_json(row), "payload", self.payload, "decision", self.decision]

    def event(self) -> TriggerEvent:
        return TriggerEvent(
            uuid=uuid.UUID(self.uuid),
            workspace_id=self.workspace_id,
            trigger_id=self.trigger_id,
            received_at=datetime.fromisoformat(self.received_at),
            source=self.source,
            matched=self.matched,
            skipped_reason=self.skipped_reason,
            payload=json.loads(self.payload),
            decision=json.loads(self.decision),
        )


class Appended(NamedTuple):
    buffered: bool
    # Counted under the rate limit it was given: the caller must not count it again.
    counted: bool = False
    # Seconds until the rate limit lets the sender in again; 0 unless the limit refused the event.
    retry_after: int = 0
    # The unique key it was given was set by this append: the caller must not set it again.
    marked: bool = False
    # The unique key it was given was already set: the event is a repeat, and was not appended.
    repeated: bool = False

    @property
    def limited(self) -> bool:
        return self.retry_after > 0


# KEYS[1]: the stream; then the sender's rate-limit counter (ratelimit.window_lua) when ARGV[1],
# its window's seconds, is not 0; then the unique key when ARGV[4], its expiry, is not 0.
# ARGV[2]: the counter's limit; ARGV[3]: MAX_WAITING; then the entry's fields.
# Counting, marking and appending in one round trip: an event past the limit is counted, never
# marked or appended; a repeat is counted, never appended. Answers {1, events waiting},
# {0, seconds until the limit lets the sender in}, {3, 0} for a repeat, or {2, events waiting}
# when the stream is full.
_APPEND_LUA = (
    "if ARGV[1] ~= '0' then\n"
    + ratelimit.window_lua("KEYS[2]")
    + "if limited then return {0, redis.call('ttl', KEYS[2])} end\n"
    "end\n"
    "if ARGV[4] ~= '0' and not redis.call('set', KEYS[#KEYS], '1', 'NX', 'EX', ARGV[4]) then return {3, 0} end\n"
    "local waiting = redis.call('xlen', KEYS[1])\n"
    "if waiting >= tonumber(ARGV[3]) then return {2, waiting} end\n"
    "redis.call('xadd', KEYS[1], '*', unpack(ARGV, 5))\n"
    "return {1, waiting + 1}\n"
)


@functools.cache
def _append_script(url: str) -> redis.commands.core.Script:
    # Registered once; each call passes the client that runs it.
    return redis_client.client(url).register_script(_APPEND_LUA)


def append(row: Row, *, rate: ratelimit.Window | None = None, unique: tuple[str, int] | None = None) -> Appended:
    """Buffers an event's row, counting it under ``rate`` first when given.

    ``unique``, a Redis key and its expiry in seconds, is set along with the append, and an
    event that finds it already set is a repeat and is not appended (a replayed signature:
    ``marketing.webhooks.signature.replay_key``). Not buffered when there is no buffer, when
    Redis does not answer or when the stream is full: the caller then writes the event itself,
    checking the rate limit unless it was counted and setting the key unless it was marked.
    """
    if not enabled():
        return Appended(buffered=False)
    keys = [_stream()]
    window = [0, 0]
    if rate:
        keys.append(rate.key)
        window = [rate.seconds, rate.limit]
    expiry = 0
    if unique:
        keys.append(unique[0])
        expiry = unique[1]
    try:
        script = _append_script(settings.REDIS_URL)
        outcome, count = redis_client.run_script(_redis(), script, keys=keys, args=[*window, MAX_WAITING, expiry, *row.entry()])
    except redis.RedisError:
        logger.warning("trigger event buffer unavailable: writing the event at once", exc_info=True)
        return Appended(buffered=False)
    counted = rate is not None
    if outcome == 0:
        return Appended(buffered=False, counted=True, retry_after=max(1, count))
    if outcome == 3:
        return Appended(buffered=False, counted=counted, repeated=True)
    marked = unique is not None
    if outcome == 2:
        logger.error("trigger event buffer full: writing the event at once", extra={"waiting": count})
        return Appended(buffered=False, counted=counted, marked=marked)
    # One request per FLUSH_AT tries to write them: while a flush runs (some milliseconds), every
    # request finding FLUSH_AT or more waiting would spend a round trip on a lock that is taken.
    if count % FLUSH_AT == 0:
        try:
            flush()
        except Exception:  # noqa: BLE001 - the event is safe in the stream; beat writes it later
            logger.warning("trigger event buffer flush failed", exc_info=True)
    return Appended(buffered=True, counted=counted, marked=marked)


def waiting() -> int:
    """Events buffered and not yet written (0 without a buffer)."""
    if not enabled():
        return 0
    try:
        return _redis().xlen(_stream())
    except redis.RedisError:
        return 0


def drop() -> None:
    """Deletes the stream and its lock, written or not (benchmarks and tests end with it)."""
    if enabled():
        _redis().delete(_stream(), f"{_stream()}:flush")


# Read on each scrape of /metrics: a backlog that keeps growing means the writes are failing.
Gauge("trigger_events_buffered", "Trigger events buffered in Redis and not yet written.").set_function(waiting)


def flush(*, batches: int = 1) -> int:
    """Writes up to ``batches`` batches of buffered events; returns how many were written.

    One flush at a time (a Redis lock): a caller that finds one running returns 0 at once.
    """
    if not enabled():
        return 0
    try:
        client = _redis()
        lock = client.lock(f"{_stream()}:flush", timeout=LOCK_SECONDS, blocking=False)
        if not lock.acquire():
            return 0
    except redis.RedisError:
        logger.warning("trigger event buffer unavailable", exc_info=True)
        return 0
    written = 0
    try:
        for _ in range(batches):
            entries = client.xrange(_stream(), count=FLUSH_BATCH)
            if not entries:
                break
            written += _write(_rows(entries))
            client.xdel(_stream(), *[entry_id for entry_id, _ in entries])
    finally:
        try:
            lock.release()
        except redis.exceptions.LockError:  # Expired while writing: the next flush may overlap, harmlessly.
            logger.warning("trigger event buffer flush outlived its lock")
    return written


def _rows(entries: list[tuple[bytes, dict[bytes, bytes]]]) -> list[Row]:
    rows = []
    for entry_id, fields in entries:
        try:
            rows.append(Row.from_entry(fields))
        except (KeyError, TypeError, ValueError):  # Nothing can write it, and it must not block the rest.
            DROPPED.labels("unreadable").inc()
            logger.error("unreadable trigger event in the buffer, dropped", extra={"entry": entry_id.decode()})
    return rows


def _write(rows: list[Row]) -> int:
    """Inserts the rows whose trigger still exists (the rest went with their trigger); returns how many."""
    for _ in range(2):
        existing = _existing_triggers({row.trigger_id for row in rows})
        kept = [row for row in rows if row.trigger_id in existing]
        try:
            _insert(kept)
        except IntegrityError:  # A trigger deleted between the check and the insert: check again.
            continue
        except DataError:  # A row the database refuses must not block the others: one at a time.
            written = sum(_insert_or_drop(row) for row in kept)
        else:
            written = len(kept)
        break
    else:
        raise IntegrityError("buffered trigger events refer to triggers deleted while they were written")
    if deleted := len(rows) - len(kept):
        DROPPED.labels("trigger_deleted").inc(deleted)
        logger.info("buffered trigger events dropped with their trigger", extra={"count": deleted})
    WRITTEN.inc(written)
    return written


def _existing_triggers(ids: set[int]) -> set[int]:
    """Which of these triggers exist. A plain statement: building the ORM's query for it cost
    more CPU than the rest of the batch's database work but the COPY."""
    if not ids:
        return set()
    meta = Trigger._meta
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {meta.pk.column} FROM {meta.db_table} WHERE {meta.pk.column} IN ({', '.join(['%s'] * len(ids))})",
            list(ids),
        )
        return {pk for (pk,) in cursor.fetchall()}


_COPIED = Row._fields


def _insert(rows: list[Row]) -> None:
    if not rows:
        return
    if connection.vendor == "postgresql":
        # COPY costs a fraction of an INSERT of the same rows but cannot skip rows already there:
        # a batch written before (a crash before the trim) goes the slower way below.
        try:
            with transaction.atomic(), connection.cursor() as cursor, connection.wrap_database_errors:
                _copy(cursor.cursor, rows)
            return
        except IntegrityError:
            pass
    with transaction.atomic():
        TriggerEvent.objects.bulk_create([row.event() for row in rows], ignore_conflicts=True)


def _insert_or_drop(row: Row) -> bool:
    try:
        _insert([row])
    except DataError:
        DROPPED.labels("refused").inc()
        logger.exception("trigger event refused by the database, dropped", extra={"event": row.uuid, "trigger_id": row.trigger_id})
        return False
    return True


def _copy(cursor, rows: list[Row]) -> None:
    meta = TriggerEvent._meta
    columns = [meta.get_field(name).column for name in _COPIED] + [meta.get_field("fired").column, meta.get_field("note").column]
    with cursor.copy(f"COPY {meta.db_table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            # Events are JSON objects (the intake refuses others), so the payload is never JSON null.
            copy.write_row((*row, False, ""))
