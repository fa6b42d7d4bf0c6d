"""Records errors and rollups: cheap, bounded, and never raising.

Every call counts in memory (and in Prometheus); at most ``MONITORING_SAMPLES_PER_MINUTE``
occurrences of one error group per minute are kept as rows, counted across processes in Redis
when there is one, in this process otherwise (and when Redis is down). The counts reach the
database on ``flush()``: right after a new sample, and every ``MONITORING_FLUSH_SECONDS`` from
a background thread, so a storm of ten thousand exceptions is a few rows, not ten thousand.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any

import redis
from django.conf import settings
from django.db import IntegrityError, connection, connections, transaction
from django.db.models import F
from django.utils import timezone
from prometheus_client import Counter

from marketing import redis_client

from .models import LATENCY_BOUNDS_MS, ErrorGroup, ErrorOccurrence, GroupStatus, Rollup
from .scrub import scrub, scrub_text

logger = logging.getLogger("monitoring")

ERROR_OCCURRENCES = Counter(
    "error_occurrences", "Errors recorded by the product's error tracking, by category.", ["category"]
)

BASE_DIR = str(Path(settings.BASE_DIR).resolve())
_LIBRARY_MARKERS = (os.sep + ".venv" + os.sep, "site-packages", "dist-packages")
MAX_PENDING_GROUPS = 1000
MAX_PENDING_SAMPLES = 200
MAX_WORKSPACES_PER_FLUSH = 100
MAX_FRAMES = 30


@dataclass
class _PendingGroup:
    category: str
    title: str
    culprit: str
    level: str
    first_at: datetime
    last_at: datetime
    count: int = 0
    workspaces: set[int] = field(default_factory=set)


@dataclass
class _Sample:
    fingerprint: str
    at: datetime
    workspace_id: int | None
    message: str
    sample: dict[str, Any]


class _Buffer:
    """What this process recorded since its last flush. A forked child starts a new one."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.lock = threading.Lock()
        self.groups: dict[str, _PendingGroup] = {}
        self.samples: list[_Sample] = []
        # (series, key, minute) -> [count, failures, total_ms, h0..h9]
        self.rollups: dict[tuple[str, str, datetime], list[float]] = {}
        self.gate_minute: datetime | None = None
        self.gate: dict[str, int] = {}
        self.last_flush = time.monotonic()
        self.thread: threading.Thread | None = None


_buffer = _Buffer()


def _buf() -> _Buffer:
    global _buffer
    if _buffer.pid != os.getpid():
        _buffer = _Buffer()
    return _buffer


# Recording ------------------------------------------------------------------------------------


def record_exception(
    exc: BaseException,
    *,
    category: str,
    context: dict[str, Any] | None = None,
    workspace_id: int | None = None,
    level: str = "error",
) -> str | None:
    """Counts ``exc`` in its group and maybe keeps a sample; returns the fingerprint."""
    try:
        fp, title, culprit = identify(exc)
        return _record(
            fp,
            category=category,
            title=title,
            culprit=culprit,
            level=level,
            workspace_id=workspace_id,
            message=scrub_text(str(exc))[:2000],
            make_sample=lambda: _exception_sample(exc, context or {}),
        )
    except Exception:  # noqa: BLE001 - error tracking must never add an error of its own
        logger.warning("monitoring: could not record an exception", exc_info=True)
        return None


def record_provider_error(
    *,
    provider: str,
    code: str,
    message: str,
    context: dict[str, Any] | None = None,
    workspace_id: int | None = None,
    level: str = "warning",
) -> str | None:
    """A failed call to an outside service, grouped by provider and error code (or outcome)."""
    try:
        fp = _hash(f"integration:{provider}", code)
        text = scrub_text(message)[:2000]
        return _record(
            fp,
            category=f"integration:{provider}",
            title=f"{provider}: {code}"[:300],
            culprit=provider,
            level=level,
            workspace_id=workspace_id,
            message=text,
            make_sample=lambda: {"type": "ProviderError", "message": text, "stack": [], "context": scrub(context or {})},
        )
    except Exception:  # noqa: BLE001
        logger.warning("monitoring: could not record a provider error", exc_info=True)
        return None


def record_timing(series: str, key: str, *, ms: float | None = None, failed: bool = False, count: int = 1) -> None:
    """Adds one event (with its duration, when timed) to this minute's rollup."""
    try:
        minute = timezone.now().replace(second=0, microsecond=0)
        buf = _buf()
        with buf.lock:
            row = buf.rollups.get((series, key, minute))
            if row is None:
                row = buf.rollups[(series, key, minute)] = [0.0] * 13
            row[0] += count
            if failed:
                row[1] += count
            if ms is not None:
                row[2] += ms
                row[3 + _bucket_index(ms)] += count
        _ensure_thread(buf)
    except Exception:  # noqa: BLE001
        logger.warning("monitoring: could not record a rollup", exc_info=True)


def _bucket_index(ms: float) -> int:
    for index, bound in enumerate(LATENCY_BOUNDS_MS):
        if ms <= bound:
            return index
    return len(LATENCY_BOUNDS_MS)


def _record(
    fp: str,
    *,
    category: str,
    title: str,
    culprit: str,
    level: str,
    workspace_id: int | None,
    message: str,
    make_sample: Callable[[], dict[str, Any]],
) -> str:
    now = timezone.now()
    minute = now.replace(second=0, microsecond=0)
    ERROR_OCCURRENCES.labels(category=category).inc()
    record_timing("error", category)
    record_timing("error_group", fp)
    buf = _buf()
    with buf.lock:
        pending = buf.groups.get(fp)
        if pending is None:
            if len(buf.groups) >= MAX_PENDING_GROUPS:
                return fp  # counted in Prometheus and the rollup; the group row waits for a flush
            pending = buf.groups[fp] = _PendingGroup(category, title, culprit, level, first_at=now, last_at=now)
        pending.count += 1
        pending.last_at = now
        if workspace_id and len(pending.workspaces) < MAX_WORKSPACES_PER_FLUSH:
            pending.workspaces.add(workspace_id)
    sampled = _gate(buf, fp, minute)
    if sampled:
        sample = make_sample()
        with buf.lock:
            if len(buf.samples) < MAX_PENDING_SAMPLES:
                buf.samples.append(_Sample(fp, now, workspace_id, message, sample))
    maybe_flush(force=sampled)
    return fp


def _gate(buf: _Buffer, fp: str, minute: datetime) -> bool:
    """Whether this occurrence is one of the few per group and minute kept as a row."""
    limit = settings.MONITORING_SAMPLES_PER_MINUTE
    with buf.lock:
        if buf.gate_minute != minute:
            buf.gate_minute, buf.gate = minute, {}
        local = buf.gate[fp] = buf.gate.get(fp, 0) + 1
    if local > limit:
        return False  # this process alone has kept enough: no need to ask Redis
    if not settings.REDIS_URL:
        return True
    key = f"monitoring:samples:{fp}:{int(minute.timestamp())}"
    try:
        pipe = redis_client.client(settings.REDIS_URL).pipeline(transaction=False)
        pipe.incr(key)
        pipe.expire(key, 120)
        seen = pipe.execute()[0]
    except redis.RedisError:
        return True  # without Redis each process keeps its own few
    return int(seen) <= limit


# Identifying ----------------------------------------------------------------------------------


def _hash(*parts: str) -> str:
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:40]


def _is_ours(filename: str) -> bool:
    return filename.startswith(BASE_DIR) and not any(marker in filename for marker in _LIBRARY_MARKERS)


def _walk(tb: TracebackType | None):
    while tb is not None:
        yield tb.tb_frame, tb.tb_lineno
        tb = tb.tb_next


def identify(exc: BaseException) -> tuple[str, str, str]:
    """The fingerprint, title and culprit of an exception.

    The fingerprint is the exception's type and the innermost frame of our own code, named by
    module and function rather than by line, so it holds when lines move, here or elsewhere.
    """
    exc_type = f"{type(exc).__module__}.{type(exc).__qualname__}"
    culprit = ""
    for frame, _ in _walk(exc.__traceback__):
        if _is_ours(frame.f_code.co_filename):
            culprit = f"{frame.f_globals.get('__name__', '?')}.{frame.f_code.co_qualname}"
    if not culprit:
        innermost = None
        for frame, _ in _walk(exc.__traceback__):
            innermost = frame
        if innermost is not None:
            culprit = f"{innermost.f_globals.get('__name__', '?')}.{innermost.f_code.co_qualname}"
    message = scrub_text(str(exc)).splitlines()[0] if str(exc) else ""
    title = f"{type(exc).__name__}: {message}" if message else type(exc).__name__
    return _hash(exc_type, culprit), title[:300], culprit[:300]


def _exception_sample(exc: BaseException, context: dict[str, Any]) -> dict[str, Any]:
    import linecache

    frames = []
    for frame, lineno in _walk(exc.__traceback__):
        filename = frame.f_code.co_filename
        ours = _is_ours(filename)
        entry: dict[str, Any] = {
            "file": os.path.relpath(filename, BASE_DIR) if ours else filename,
            "line": lineno,
            "function": frame.f_code.co_qualname,
            "code": linecache.getline(filename, lineno).strip(),
            "ours": ours,
        }
        if ours:
            entry["locals"] = scrub({name: value for name, value in list(frame.f_locals.items())[:30]})
        frames.append(entry)
    return {
        "type": f"{type(exc).__module__}.{type(exc).__qualname__}",
        "message": scrub_text(str(exc))[:2000],
        "stack": frames[-MAX_FRAMES:],
        "context": scrub(context),
    }


# Flushing -------------------------------------------------------------------------------------


def _in_own_transaction() -> bool:
    """True inside a transaction.atomic() of the code being run (not a test case's wrapper)."""
    return any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)


def maybe_flush(*, force: bool = False) -> None:
    """Flushes now when asked to (a new sample) or when due, unless that would write inside the
    caller's transaction, whose rollback would take the sample with it."""
    buf = _buf()
    due = time.monotonic() - buf.last_flush >= settings.MONITORING_FLUSH_SECONDS
    if (force or (due and buf.thread is None)) and not _in_own_transaction():
        flush()


def flush(buf: _Buffer | None = None) -> None:
    """Writes what this process has recorded: group counts, samples and rollups. Never raises."""
    buf = buf or _buf()
    with buf.lock:
        groups, samples, rollups = buf.groups, buf.samples, buf.rollups
        buf.groups, buf.samples, buf.rollups = {}, [], {}
        buf.last_flush = time.monotonic()
    if not (groups or samples or rollups):
        return
    try:
        with transaction.atomic():
            by_fp = {fp: _save_group(fp, pending) for fp, pending in groups.items()}
            latest: dict[str, _Sample] = {}
            occurrences = []
            for item in samples:
                group_id = by_fp.get(item.fingerprint)
                if group_id is None:
                    continue
                latest[item.fingerprint] = item
                occurrences.append(
                    ErrorOccurrence(
                        group_id=group_id,
                        at=item.at,
                        workspace_id=item.workspace_id,
                        message=item.message,
                        context=item.sample.get("context", {}),
                    )
                )
            ErrorOccurrence.objects.bulk_create(occurrences)
            for fp, item in latest.items():
                ErrorGroup.objects.filter(pk=by_fp[fp]).update(sample={**item.sample, "at": item.at.isoformat()})
            _save_rollups(rollups)
    except Exception:  # noqa: BLE001 - counts are dropped rather than piling up without bound
        logger.warning("monitoring: could not write %d error groups and %d rollups", len(groups), len(rollups), exc_info=True)


def _save_group(fp: str, pending: _PendingGroup) -> int:
    """Adds the pending count to the group (creating it), reopening a resolved one: a regression."""
    now = timezone.now()
    group_id = ErrorGroup.objects.filter(fingerprint=fp).values_list("pk", flat=True).first()
    if group_id is None:
        try:
            with transaction.atomic():
                group_id = ErrorGroup.objects.create(
                    fingerprint=fp,
                    category=pending.category,
                    level=pending.level,
                    title=pending.title,
                    culprit=pending.culprit,
                    first_seen=pending.first_at,
                    last_seen=pending.last_at,
                    times_seen=pending.count,
                ).pk
        except IntegrityError:  # another process created it meanwhile
            group_id = ErrorGroup.objects.get(fingerprint=fp).pk
        else:
            pending.count = 0
    if pending.count:
        ErrorGroup.objects.filter(pk=group_id).update(
            times_seen=F("times_seen") + pending.count, last_seen=pending.last_at, title=pending.title
        )
    ErrorGroup.objects.filter(pk=group_id, status=GroupStatus.RESOLVED, resolved_at__lt=pending.last_at).update(
        status=GroupStatus.OPEN, regressed_at=now, resolved_at=None
    )
    if pending.workspaces:
        through = ErrorGroup.workspaces.through
        through.objects.bulk_create(
            [through(errorgroup_id=group_id, workspace_id=ws) for ws in pending.workspaces], ignore_conflicts=True
        )
    return group_id


def _save_rollups(rollups: dict[tuple[str, str, datetime], list[float]]) -> None:
    """Adds the counts to the minute and hour rows with one upsert that sums (not overwrites)."""
    if not rollups:
        return
    merged: dict[tuple[str, str, str, datetime], list[float]] = {}
    for (series, key, minute), values in rollups.items():
        for resolution, bucket in (("m", minute), ("h", minute.replace(minute=0))):
            row = merged.setdefault((series, key[:200], resolution, bucket), [0.0] * 13)
            for index, value in enumerate(values):
                row[index] += value
    quote = connection.ops.quote_name
    table = quote(Rollup._meta.db_table)
    summed = ["count", "failures", "total_ms", *(f"h{index}" for index in range(10))]
    columns = ["series", "key", "resolution", "bucket", *summed]
    sql = (
        f"INSERT INTO {table} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join(['%s'] * len(columns))}) "
        f"ON CONFLICT ({', '.join(quote(c) for c in columns[:4])}) DO UPDATE SET "
        + ", ".join(f"{quote(c)} = {table}.{quote(c)} + excluded.{quote(c)}" for c in summed)
    )
    params = []
    for (series, key, resolution, bucket), values in merged.items():
        counts = [int(v) if index != 2 else float(v) for index, v in enumerate(values)]
        params.append([series, key, resolution, connection.ops.adapt_datetimefield_value(bucket), *counts])
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)


def record_gauge(series: str, key: str, value: float, *, at: datetime | None = None) -> None:
    """Sets a sampled value (queue depth, scheduler lag...) for this minute and this hour (max)."""
    at = (at or timezone.now()).replace(second=0, microsecond=0)
    Rollup.objects.update_or_create(
        series=series, key=key[:200], resolution="m", bucket=at, defaults={"value": value, "count": 1}
    )
    hour, _ = Rollup.objects.get_or_create(series=series, key=key[:200], resolution="h", bucket=at.replace(minute=0))
    if hour.value is None or value > hour.value:
        Rollup.objects.filter(pk=hour.pk).update(value=value, count=F("count") + 1)


# The background flush -------------------------------------------------------------------------


def _ensure_thread(buf: _Buffer) -> None:
    if buf.thread is not None or not settings.MONITORING_BACKGROUND_FLUSH:
        return
    with buf.lock:
        if buf.thread is None:
            buf.thread = threading.Thread(target=_flush_forever, args=(buf,), name="monitoring-flush", daemon=True)
            buf.thread.start()


def _flush_forever(buf: _Buffer) -> None:
    # A thread serves the buffer it was started for: after reset() (or a fork) it stops, instead
    # of taking the new buffer's records and writing them on a connection of its own.
    while True:
        time.sleep(settings.MONITORING_FLUSH_SECONDS)
        if _buffer is not buf:
            return
        try:
            flush(buf)
        finally:
            connections.close_all()  # this thread's own connections


def reset() -> None:
    """Forgets whatever is pending, and the sample counts kept in Redis (for tests)."""
    global _buffer
    _buffer = _Buffer()
    if settings.REDIS_URL:
        try:
            client = redis_client.client(settings.REDIS_URL)
            keys = list(client.scan_iter(match="monitoring:samples:*"))
            if keys:
                client.delete(*keys)
        except redis.RedisError:
            pass


def flush_at_exit() -> None:
    try:
        flush()
    except Exception:  # noqa: BLE001
        pass


def retention_cutoffs(now: datetime | None = None) -> dict[str, datetime]:
    now = now or timezone.now()
    return {
        "occurrences": now - timedelta(days=settings.MONITORING_OCCURRENCE_RETENTION_DAYS),
        "minute_rollups": now - timedelta(days=settings.MONITORING_MINUTE_ROLLUP_RETENTION_DAYS),
        "hour_rollups": now - timedelta(days=settings.MONITORING_HOUR_ROLLUP_RETENTION_DAYS),
    }


