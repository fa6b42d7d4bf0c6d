"""Alert rules evaluated every minute: one notification when an alert starts firing, a reminder
while it keeps firing, one when it resolves.

Each kind's evaluator returns what is wrong now, one ``Finding`` per key (a provider, an account,
an error group...). What ``threshold`` and ``window_minutes`` mean per kind is in ``DEFAULTS``.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from . import live, notify
from .models import Alert, AlertKind, AlertRule, AlertState, ErrorGroup, GroupStatus, Heartbeat, NotificationKind, Rollup

logger = logging.getLogger("monitoring.alerts")

# Fewer requests than this in the window never make an error rate.
MIN_REQUESTS_FOR_RATE = 20

# What a rule's threshold and window mean, per kind (shown in the admin). The defaults are
# created by migrations/0002_default_alert_rules.py.
MEANING: dict[str, str] = {
    AlertKind.ERROR_RATE: "threshold: % of requests answered 5xx over the window (at least 20 requests)",
    AlertKind.NEW_ERROR_GROUP: "threshold: occurrences; fires for an open group first seen or regressed within the window",
    AlertKind.BREAKER_OPEN: "threshold: minutes a provider's circuit has stayed open",
    AlertKind.QUEUE_BACKLOG: "threshold: messages waiting; also fires for a queued run older than the window",
    AlertKind.BEAT_SILENT: "threshold: seconds since beat's last heartbeat",
    AlertKind.WORKERS_SILENT: "threshold: workers that must answer a ping",
    AlertKind.PUBLISH_FAILURES: "threshold: failed publishes in a row to one destination within the window",
    AlertKind.INSTAGRAM_TOKEN: "threshold: days before a token expires (or the account needs reconnecting)",
    AlertKind.N8N_CALLBACK_TIMEOUTS: "threshold: runs failed for want of an n8n callback within the window",
    AlertKind.STRIPE_WEBHOOKS_FAILING: "threshold: Stripe webhook deliveries that failed validation or processing within the window",
    AlertKind.BACKUP_STALE: "threshold: hours since the last scheduled backup (only with BACKUP_DIR set)",
}


@dataclass(frozen=True)
class Finding:
    key: str
    summary: str
    value: float | None = None


def _error_rate(rule: AlertRule, now: datetime) -> list[Finding]:
    rows = Rollup.objects.filter(
        series="request", resolution="m", bucket__gte=now - timedelta(minutes=rule.window_minutes)
    ).values_list("count", "failures")
    total = sum(count for count, _ in rows)
    failed = sum(failures for _, failures in rows)
    if total < MIN_REQUESTS_FOR_RATE:
        return []
    rate = 100 * failed / total
    if rate <= rule.threshold:
        return []
    return [Finding("", f"{rate:.1f}% of {total} requests answered 5xx in the last {rule.window_minutes} min", rate)]


def _new_error_group(rule: AlertRule, now: datetime) -> list[Finding]:
    since = now - timedelta(minutes=rule.window_minutes)
    groups = ErrorGroup.objects.filter(status=GroupStatus.OPEN, times_seen__gte=rule.threshold).filter(
        Q(first_seen__gte=since) | Q(regressed_at__gte=since)
    )[:50]
    return [
        Finding(
            f"group:{group.pk}",
            f"{'Regression' if group.regressed_at and group.regressed_at >= since else 'New error'} "
            f"[{group.category}]: {group.title[:200]}",
            group.times_seen,
        )
        for group in groups
    ]


def _breaker_open(rule: AlertRule, now: datetime) -> list[Finding]:
    return [
        Finding(provider, f"{provider}: circuit open for {open_for / 60:.0f} min; calls are refused", open_for)
        for provider, (state, open_for) in live.breaker_states().items()
        if state == "open" and open_for is not None and open_for >= rule.threshold * 60
    ]


def _queue_backlog(rule: AlertRule, now: datetime) -> list[Finding]:
    from campaigns.models import CampaignExecution, ExecutionStatus

    findings = [
        Finding(f"queue:{queue}", f"{depth} messages waiting in the {queue} queue", depth)
        for queue, depth in live.queue_depths().items()
        if depth > rule.threshold
    ]
    oldest = (
        CampaignExecution.objects.filter(status=ExecutionStatus.QUEUED, queued_at__lt=now - timedelta(minutes=rule.window_minutes))
        .order_by("queued_at")
        .values_list("queued_at", flat=True)
        .first()
    )
    if oldest is not None:
        age = (now - oldest).total_seconds()
        findings.append(Finding("oldest_run", f"A queued run has waited {age / 60:.0f} min for a worker", age))
    return findings


def _beat_silent(rule: AlertRule, now: datetime) -> list[Finding]:
    at = Heartbeat.objects.filter(name="beat").values_list("at", flat=True).first()
    if at is None:
        return [Finding("", "Beat has never sent its heartbeat: scheduled runs are not dispatched", None)]
    age = (now - at).total_seconds()
    if age <= rule.threshold:
        return []
    return [Finding("", f"No heartbeat from beat for {age / 60:.0f} min: scheduled runs are not dispatched", age)]


def _workers_silent(rule: AlertRule, now: datetime) -> list[Finding]:
    from marketing.celery import app

    try:
        # Returns once the expected number have answered, not after the whole second.
        answers = app.control.ping(timeout=1.0, limit=max(1, math.ceil(rule.threshold))) or []
    except Exception:  # noqa: BLE001 - the broker itself is down: nobody answers
        answers = []
    if len(answers) >= rule.threshold:
        return []
    return [Finding("", f"{len(answers)} Celery worker(s) answered a ping, {rule.threshold:.0f} expected", len(answers))]


def _publish_failures(rule: AlertRule, now: datetime) -> list[Finding]:
    from campaigns.destinations import destination_label
    from campaigns.models import ExecutionStep, StepStatus

    steps = (
        ExecutionStep.objects.filter(
            name="publish",
            status__in=[StepStatus.SUCCEEDED, StepStatus.FAILED],
            finished_at__gte=now - timedelta(minutes=rule.window_minutes),
        )
        .exclude(destination="")
        .order_by("-finished_at")
        .values_list("destination", "object_id", "status", "detail")[:5000]
    )
    streaks: dict[tuple[str, int], list] = {}
    done: set[tuple[str, int]] = set()
    for destination, object_id, status, detail in steps:
        key = (destination, object_id)
        if key in done:
            continue
        if status == StepStatus.FAILED:
            streaks.setdefault(key, []).append(detail)
        else:
            done.add(key)
    needed = int(rule.threshold)
    return [
        Finding(
            f"{destination}:{object_id}",
            f"{len(details)} publishes in a row failed to {destination_label(destination)} #{object_id}; last: {details[0][:200]}",
            len(details),
        )
        for (destination, object_id), details in streaks.items()
        if len(details) >= needed
    ]


def _instagram_token(rule: AlertRule, now: datetime) -> list[Finding]:
    from integrations.instagram.models import AccountStatus, InstagramAccount

    accounts = InstagramAccount.objects.filter(
        Q(status=AccountStatus.NEEDS_RECONNECT)
        | Q(status=AccountStatus.CONNECTED, token_expires_at__lt=now + timedelta(days=rule.threshold))
    ).select_related("workspace")[:200]
    findings = []
    for account in accounts:
        if account.status == AccountStatus.NEEDS_RECONNECT or (account.token_expires_at and account.token_expires_at <= now):
            what = "needs reconnecting (token expired or revoked)"
        else:
            what = f"token expires {account.token_expires_at:%Y-%m-%d %H:%M} UTC"
        findings.append(Finding(f"account:{account.pk}", f"Instagram @{account.username} ({account.workspace}): {what}"))
    return findings


def _n8n_callback_timeouts(rule: AlertRule, now: datetime) -> list[Finding]:
    from campaigns.models import ErrorCategory, ExecutionStep, StepStatus

    count = ExecutionStep.objects.filter(
        name="publish",
        destination="n8n",
        status=StepStatus.FAILED,
        error_category=ErrorCategory.TIMEOUT,
        finished_at__gte=now - timedelta(minutes=rule.window_minutes),
    ).count()
    if count < rule.threshold:
        return []
    return [Finding("", f"{count} n8n run(s) got no callback in time in the last {rule.window_minutes} min", count)]


def _stripe_webhooks_failing(rule: AlertRule, now: datetime) -> list[Finding]:
    """Accepted events whose processing failed and still waits (billing/webhooks.py), and dj-stripe's
    own log of deliveries (not valid, or an exception while processing)."""
    from djstripe.models import WebhookEventTrigger

    from billing.models import ReceivedEvent

    since = now - timedelta(minutes=rule.window_minutes)
    count = (
        WebhookEventTrigger.objects.filter(created__gte=since).filter(Q(valid=False) | ~Q(exception="")).count()
        + ReceivedEvent.objects.filter(processed_at__isnull=True, last_attempt_at__gte=since).exclude(last_error="").count()
    )
    if count < rule.threshold:
        return []
    return [Finding("", f"{count} Stripe webhook deliveries failed in the last {rule.window_minutes} min", count)]


def _backup_stale(rule: AlertRule, now: datetime) -> list[Finding]:
    """The daily backup (marketing.tasks.backup_scheduled) has not succeeded for too long."""
    if not settings.BACKUP_DIR:
        return []
    at = Heartbeat.objects.filter(name="backup").values_list("at", flat=True).first()
    if at is None:
        return [Finding("", f"No scheduled backup has succeeded yet into {settings.BACKUP_DIR}", None)]
    hours = (now - at).total_seconds() / 3600
    if hours <= rule.threshold:
        return []
    return [Finding("", f"The last scheduled backup succeeded {hours:.0f} h ago", hours)]


EVALUATORS: dict[str, Callable[[AlertRule, datetime], list[Finding]]] = {
    AlertKind.ERROR_RATE: _error_rate,
    AlertKind.NEW_ERROR_GROUP: _new_error_group,
    AlertKind.BREAKER_OPEN: _breaker_open,
    AlertKind.QUEUE_BACKLOG: _queue_backlog,
    AlertKind.BEAT_SILENT: _beat_silent,
    AlertKind.WORKERS_SILENT: _workers_silent,
    AlertKind.PUBLISH_FAILURES: _publish_failures,
    AlertKind.INSTAGRAM_TOKEN: _instagram_token,
    AlertKind.N8N_CALLBACK_TIMEOUTS: _n8n_callback_timeouts,
    AlertKind.STRIPE_WEBHOOKS_FAILING: _stripe_webhooks_failing,
    AlertKind.BACKUP_STALE: _backup_stale,
}


def evaluate(*, now: datetime | None = None) -> None:
    """Evaluates every enabled rule, notifies, and records that the evaluator ran."""
    now = now or timezone.now()
    for rule in AlertRule.objects.filter(enabled=True):
        try:
            findings = EVALUATORS[rule.kind](rule, now)
        except Exception:  # noqa: BLE001 - one broken rule must not silence the others
            logger.exception("alert rule %s could not be evaluated", rule)
            continue
        _apply(rule, findings, now)
    Heartbeat.objects.update_or_create(name="evaluator", defaults={"at": now})


def _apply(rule: AlertRule, findings: list[Finding], now: datetime) -> None:
    firing = {alert.key: alert for alert in Alert.objects.filter(rule=rule, state=AlertState.FIRING)}
    for finding in findings:
        alert = firing.pop(finding.key, None)
        if alert is None:
            try:
                with transaction.atomic():
                    alert = Alert.objects.create(
                        rule=rule, key=finding.key, summary=finding.summary, value=finding.value,
                        started_at=now, last_notified_at=now,
                    )
            except IntegrityError:  # another evaluator opened it at the same moment
                continue
            notify.send(alert, NotificationKind.FIRING)
            continue
        Alert.objects.filter(pk=alert.pk).update(summary=finding.summary, value=finding.value)
        alert.summary, alert.value = finding.summary, finding.value
        due = alert.last_notified_at is None or now - alert.last_notified_at >= timedelta(minutes=rule.remind_after_minutes)
        if due and Alert.objects.filter(pk=alert.pk, last_notified_at=alert.last_notified_at).update(
            last_notified_at=now, reminders=alert.reminders + 1
        ):
            alert.reminders += 1
            notify.send(alert, NotificationKind.REMINDER)
    for alert in firing.values():
        if Alert.objects.filter(pk=alert.pk, state=AlertState.FIRING).update(state=AlertState.RESOLVED, resolved_at=now):
            alert.state, alert.resolved_at = AlertState.RESOLVED, now
            notify.send(alert, NotificationKind.RESOLVED)


_fallback_lock = threading.Lock()


def evaluate_if_stale() -> bool:
    """Runs the evaluator in a thread of this process when beat's run is overdue, so that "beat
    silent" and "workers silent" can still be said when beat or the workers are what is down.
    Called by /readyz, which load balancers poll; returns whether it started one."""
    at = Heartbeat.objects.filter(name="evaluator").values_list("at", flat=True).first()
    if at is not None and timezone.now() - at < timedelta(seconds=settings.MONITORING_EVALUATOR_MAX_AGE_SECONDS):
        return False
    if not _fallback_lock.acquire(blocking=False):
        return False

    def run() -> None:
        from django.db import connections

        try:
            evaluate()
        except Exception:  # noqa: BLE001
            logger.exception("fallback alert evaluation failed")
        finally:
            connections.close_all()
            _fallback_lock.release()

    threading.Thread(target=run, name="monitoring-fallback-evaluator", daemon=True).start()
    return True
