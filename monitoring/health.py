"""Health of every part, with django-health-check's checks and a few of our own in its API.

``run_checks()`` runs them one after the other in the calling thread (the database checks must
see the caller's connection) and times each. ``/readyz`` answers with the result; beat samples it
every minute for the status page's history.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
import shutil
import time
from datetime import timedelta

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.utils import timezone
from health_check.base import HealthCheck
from health_check.checks import Cache, Database
from health_check.contrib.celery import Ping
from health_check.exceptions import HealthCheckException, ServiceUnavailable

logger = logging.getLogger("monitoring.health")


@dataclasses.dataclass
class Broker(HealthCheck):
    """The Celery broker accepts a connection."""

    def run(self) -> None:
        from marketing.celery import app

        try:
            with app.connection_for_write() as conn:
                conn.ensure_connection(max_retries=1, timeout=2)
        except Exception as exc:  # noqa: BLE001 - kombu raises many kinds
            raise ServiceUnavailable(f"Broker unreachable: {type(exc).__name__}") from exc


@dataclasses.dataclass
class Worker(Ping):
    """At least one Celery worker answers a ping within a second."""

    def check_active_queues(self, *active_workers: str) -> None:
        # Asking each worker for its queues is a second broadcast; one default queue here.
        return None


@dataclasses.dataclass
class HeartbeatAge(HealthCheck):
    """A periodic job wrote its heartbeat recently enough."""

    name: str = "beat"
    max_age_setting: str = "MONITORING_BEAT_MAX_AGE_SECONDS"
    what: str = "beat heartbeat"

    def run(self) -> None:
        from .models import Heartbeat

        at = Heartbeat.objects.filter(name=self.name).values_list("at", flat=True).first()
        if at is None:
            raise ServiceUnavailable(f"No {self.what} yet")
        age = (timezone.now() - at).total_seconds()
        max_age = getattr(settings, self.max_age_setting)
        if age > max_age:
            raise ServiceUnavailable(f"Last {self.what} {age:.0f}s ago (more than {max_age}s)")


@dataclasses.dataclass
class Migrations(HealthCheck):
    """Every migration is applied."""

    def run(self) -> None:
        executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
        if plan:
            raise ServiceUnavailable(f"{len(plan)} migration(s) not applied, first {plan[0][0].app_label}.{plan[0][0].name}")


@dataclasses.dataclass
class Disk(HealthCheck):
    """The disk that holds media has room left."""

    def run(self) -> None:
        path = settings.MEDIA_ROOT
        while not path.exists() and path != path.parent:
            path = path.parent
        usage = shutil.disk_usage(path)
        free = usage.free / usage.total * 100
        if free < settings.MONITORING_DISK_MIN_FREE_PERCENT:
            raise ServiceUnavailable(f"{free:.1f}% free on the media disk")


def checks() -> dict[str, HealthCheck]:
    found: dict[str, HealthCheck] = {
        "database": Database(),
        "cache": Cache(),
        "broker": Broker(),
        # The first answer is enough: without a limit the ping waits out its whole second, and
        # /readyz with it, longer than a probe's usual one-second timeout.
        "worker": Worker(timeout=timedelta(seconds=1), limit=1),
        "beat": HeartbeatAge(),
        "alert_evaluator": HeartbeatAge(
            name="evaluator", max_age_setting="MONITORING_EVALUATOR_MAX_AGE_SECONDS", what="alert evaluation"
        ),
        "migrations": Migrations(),
        "disk": Disk(),
    }
    if settings.REDIS_URL:
        from health_check.contrib.redis import Redis
        from redis.asyncio import Redis as AsyncRedis

        url = settings.REDIS_URL
        found["redis"] = Redis(client_factory=lambda: AsyncRedis.from_url(url, socket_timeout=1, socket_connect_timeout=1))
    return found


@dataclasses.dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    latency_ms: float
    error: str = ""


def run_checks(names: list[str] | None = None) -> list[CheckResult]:
    results = []
    for name, check in checks().items():
        if names and name not in names:
            continue
        started = time.perf_counter()
        error = ""
        try:
            if inspect.iscoroutinefunction(check.run):
                asyncio.run(asyncio.wait_for(check.run(), check.timeout.total_seconds() + 1))
            else:
                check.run()
        except HealthCheckException as exc:
            error = str(exc.message if hasattr(exc, "message") else exc)
        except (TimeoutError, asyncio.TimeoutError):
            error = "Timed out"
        except Exception as exc:  # noqa: BLE001 - a broken check reports, never 500s
            logger.warning("health check %s raised", name, exc_info=True)
            error = f"Unexpected {type(exc).__name__}"
        results.append(CheckResult(name, not error, round((time.perf_counter() - started) * 1000, 1), error[:300]))
    return results
