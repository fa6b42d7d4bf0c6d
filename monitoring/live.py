"""Values read at the moment they are asked for: queue depth, scheduler lag, breaker states.

/metrics exposes them as gauges; beat samples them into rollups every minute for the dashboard.
"""

from __future__ import annotations

import logging
from pathlib import Path

from django.conf import settings
from django.db.models import Min
from django.utils import timezone

logger = logging.getLogger("monitoring")

# Providers whose breaker state is always reported, even before their first call in this process.
KNOWN_PROVIDERS = ("instagram", "n8n", "openai", "stripe")
BREAKER_STATES = {"closed": 0, "half-open": 1, "open": 2}


def queue_depths() -> dict[str, int]:
    """Messages waiting in each Celery queue; empty when the broker cannot be asked."""
    from marketing.celery import app

    queue = app.conf.task_default_queue or "celery"
    try:
        if settings.REDIS_URL:
            from marketing import redis_client

            return {queue: int(redis_client.client(settings.CELERY_BROKER_URL).llen(queue))}
        folder = Path(settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("data_folder_in", ""))
        return {queue: sum(1 for _ in folder.glob("*.msg"))} if folder.is_dir() else {}
    except Exception:  # noqa: BLE001 - a gauge that cannot be read is left out, not a 500
        logger.warning("monitoring: could not read the queue depth", exc_info=True)
        return {}


def scheduler_lag_seconds() -> float:
    """How long the oldest due planned run has waited to be dispatched (0 when none is due)."""
    from campaigns.models import DISPATCHED_STATUSES, Schedule

    now = timezone.now()
    oldest = Schedule.objects.filter(next_run_at__lte=now, campaign__status__in=DISPATCHED_STATUSES).aggregate(
        oldest=Min("next_run_at")
    )["oldest"]
    return max(0.0, (now - oldest).total_seconds()) if oldest else 0.0


def breaker_states() -> dict[str, tuple[str, float | None]]:
    """Each provider's circuit state and, when open, for how many seconds it has been open."""
    from integrations import http

    with http._lock:
        names = set(http._breakers) | set(KNOWN_PROVIDERS)
    states = {}
    for name in sorted(names):
        try:
            breaker = http._breaker(name)
            state = breaker.current_state
            opened_at = breaker._state_storage.opened_at if state == "open" else None
        except Exception:  # noqa: BLE001 - Redis down: the state is unknown
            continue
        open_for = (timezone.now() - opened_at).total_seconds() if opened_at else None
        states[name] = (state, open_for)
    return states


def heartbeat_ages() -> dict[str, float]:
    from .models import Heartbeat

    now = timezone.now()
    return {name: (now - at).total_seconds() for name, at in Heartbeat.objects.values_list("name", "at")}
