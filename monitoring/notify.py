"""Alert notifications: email to staff, and a signed outgoing webhook (our JSON or Slack's).

The webhook carries ``X-Marketing-Timestamp`` and ``X-Marketing-Signature: v1=<hex>``, the
HMAC-SHA256 of ``"{timestamp}.{body}"`` with MONITORING_ALERT_WEBHOOK_SECRET; a receiver checks
it with ``verify_signature()`` and refuses timestamps older than five minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.urls import reverse

from .models import Alert, AlertNotification, NotificationKind

logger = logging.getLogger("monitoring.alerts")

SIGNATURE_HEADER = "X-Marketing-Signature"
TIMESTAMP_HEADER = "X-Marketing-Timestamp"
TOLERANCE_SECONDS = 300
PREFIX = {NotificationKind.FIRING: "FIRING", NotificationKind.REMINDER: "STILL FIRING", NotificationKind.RESOLVED: "RESOLVED"}


def sign(*, secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def verify_signature(*, secret: str, timestamp: str, body: bytes, signature: str, now: float | None = None) -> bool:
    """Whether a delivery is ours and fresh: the signature matches and the timestamp is recent."""
    try:
        stamp = int(timestamp)
    except (TypeError, ValueError):
        return False
    if abs((now or time.time()) - stamp) > TOLERANCE_SECONDS:
        return False
    return hmac.compare_digest(sign(secret=secret, timestamp=stamp, body=body), signature or "")


def _alerts_url() -> str:
    return f"{settings.PUBLIC_BASE_URL}{reverse('monitoring:alert_list')}"


def text(alert: Alert, kind: str) -> str:
    head = f"[{PREFIX[kind]}] {alert.rule.name}"
    if alert.key:
        head += f" ({alert.key})"
    return f"{head}: {alert.summary}"


def payload(alert: Alert, kind: str) -> dict:
    if settings.MONITORING_ALERT_WEBHOOK_FORMAT == "slack":
        return {"text": f"{text(alert, kind)}\n<{_alerts_url()}|Alert history>"}
    return {
        "event": kind,
        "rule": alert.rule.name,
        "rule_kind": alert.rule.kind,
        "key": alert.key,
        "summary": alert.summary,
        "value": alert.value,
        "started_at": alert.started_at.isoformat(),
        "resolved_at": alert.resolved_at.isoformat() if alert.resolved_at else None,
        "url": _alerts_url(),
    }


def recipients() -> list[str]:
    staff = get_user_model().objects.filter(is_staff=True, is_active=True).values_list("email", flat=True)
    return sorted({*staff, *settings.MONITORING_ALERT_EMAILS} - {""})


def send(alert: Alert, kind: str) -> None:
    """One message per enabled channel; a failing channel is recorded, never raised."""
    rule = alert.rule
    if rule.notify_email and (to := recipients()):
        try:
            send_mail(
                subject=text(alert, kind)[:200],
                message=f"{text(alert, kind)}\n\nStarted: {alert.started_at:%Y-%m-%d %H:%M} UTC\n"
                + (f"Resolved: {alert.resolved_at:%Y-%m-%d %H:%M} UTC\n" if alert.resolved_at else "")
                + f"\nAlert history: {_alerts_url()}\n",
                from_email=None,
                recipient_list=to,
            )
            AlertNotification.objects.create(alert=alert, kind=kind, channel="email", detail=f"{len(to)} recipient(s)")
        except Exception as exc:  # noqa: BLE001
            logger.warning("alert email failed", exc_info=True)
            AlertNotification.objects.create(alert=alert, kind=kind, channel="email", ok=False, detail=type(exc).__name__)
    if rule.notify_webhook and settings.MONITORING_ALERT_WEBHOOK_URL:
        _send_webhook(alert, kind)


def _send_webhook(alert: Alert, kind: str) -> None:
    from integrations import http

    body = json.dumps(payload(alert, kind), separators=(",", ":")).encode()
    stamp = int(time.time())
    headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: str(stamp)}
    if settings.MONITORING_ALERT_WEBHOOK_SECRET:
        headers[SIGNATURE_HEADER] = sign(secret=settings.MONITORING_ALERT_WEBHOOK_SECRET, timestamp=stamp, body=body)
    try:
        response = http.request("alert_webhook", "POST", settings.MONITORING_ALERT_WEBHOOK_URL, data=body, headers=headers, timeout=5)
        AlertNotification.objects.create(alert=alert, kind=kind, channel="webhook", detail=f"HTTP {response.status_code}")
    except http.ProviderError as exc:
        AlertNotification.objects.create(alert=alert, kind=kind, channel="webhook", ok=False, detail=exc.message[:300])
