"""Writes: error group status, heartbeats, pruning."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from .models import Alert, AlertState, ErrorGroup, ErrorOccurrence, GroupStatus, HealthSample, Heartbeat, Rollup
from .recorder import retention_cutoffs


@transaction.atomic
def error_group_set_status(*, group: ErrorGroup, status: str) -> ErrorGroup:
    """Resolve, ignore or reopen a group. A resolved group that happens again reopens as a regression."""
    if status not in GroupStatus.values:
        raise ValueError(f"Unknown status {status!r}")
    group.status = status
    group.resolved_at = timezone.now() if status == GroupStatus.RESOLVED else None
    if status != GroupStatus.OPEN:
        group.regressed_at = None
    group.save(update_fields=["status", "resolved_at", "regressed_at"])
    return group


def heartbeat_touch(*, name: str) -> None:
    Heartbeat.objects.update_or_create(name=name, defaults={"at": timezone.now()})


def monitoring_prune(*, batch: int = 10_000) -> dict[str, int]:
    """Deletes what is older than the retention settings; returns how many rows of each kind."""
    cut = retention_cutoffs()
    now = timezone.now()
    deleted = {
        "occurrences": _delete_in_batches(ErrorOccurrence.objects.filter(at__lt=cut["occurrences"]), batch),
        "minute_rollups": _delete_in_batches(Rollup.objects.filter(resolution="m", bucket__lt=cut["minute_rollups"]), batch),
        "hour_rollups": _delete_in_batches(Rollup.objects.filter(resolution="h", bucket__lt=cut["hour_rollups"]), batch),
        "health_samples": _delete_in_batches(
            HealthSample.objects.filter(at__lt=now - timedelta(days=settings.MONITORING_HEALTH_RETENTION_DAYS)), batch
        ),
        "alerts": _delete_in_batches(
            Alert.objects.filter(
                state=AlertState.RESOLVED,
                resolved_at__lt=now - timedelta(days=settings.MONITORING_ALERT_RETENTION_DAYS),
            ),
            batch,
        ),
    }
    return deleted


def _delete_in_batches(queryset, batch: int) -> int:
    total = 0
    model = queryset.model
    while True:
        ids = list(queryset.values_list("pk", flat=True)[:batch])
        if not ids:
            return total
        model.objects.filter(pk__in=ids).delete()
        total += len(ids)


def health_sample() -> None:
    """Stores each check's result now, for the status page's history."""
    from .health import run_checks

    now = timezone.now()
    HealthSample.objects.bulk_create(
        [HealthSample(at=now, name=r.name, ok=r.ok, latency_ms=r.latency_ms, error=r.error) for r in run_checks()]
    )


def gauges_sample() -> None:
    """Queue depth, scheduler lag and breaker states into this minute's rollups."""
    from . import live
    from .recorder import record_gauge

    for queue, depth in live.queue_depths().items():
        record_gauge("queue_depth", queue, depth)
    record_gauge("scheduler_lag", "", live.scheduler_lag_seconds())
    for provider, (state, _) in live.breaker_states().items():
        record_gauge("breaker", provider, live.BREAKER_STATES.get(state, 0))


def minute_tick() -> None:
    from .alerts import evaluate
    from .recorder import flush

    flush()
    gauges_sample()
    health_sample()
    evaluate()
