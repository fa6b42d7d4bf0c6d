"""Each default alert fires, notifies once, reminds, and resolves; the webhook is signed."""

import json
from datetime import timedelta

import pytest
import responses
from django.core import mail
from django.utils import timezone

from campaigns.models import CampaignExecution, ErrorCategory, ExecutionStatus, ExecutionStep, StepStatus
from integrations import http
from marketing.celery import app
from monitoring import alerts, notify, services
from monitoring.models import Alert, AlertKind, AlertNotification, AlertRule, AlertState, ErrorGroup, GroupStatus, Rollup
from tests.factories import CampaignFactory, UserFactory

HOOK = "https://alerts.example/hook"
SECRET = "alert-webhook-secret"


@pytest.fixture
def channels(db, settings):
    UserFactory(email="oncall@example.com", is_staff=True)
    settings.MONITORING_ALERT_WEBHOOK_URL = HOOK
    settings.MONITORING_ALERT_WEBHOOK_SECRET = SECRET
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mocked:
        mocked.post(HOOK, json={"ok": True})
        yield mocked


def _execution(alice_workspace) -> CampaignExecution:
    campaign = CampaignFactory(workspace=alice_workspace)
    return CampaignExecution.objects.create(workspace=alice_workspace, campaign=campaign, source="manual")


def _publish_step(execution, *, destination="instagram", status=StepStatus.FAILED, category="", minutes_ago=1):
    return ExecutionStep.objects.create(
        execution=execution, position=execution.steps.count(), name="publish", destination=destination, object_id=1, status=status,
        error_category=category, detail="Graph said no", finished_at=timezone.now() - timedelta(minutes=minutes_ago),
    )


class Situations:
    """For each kind: make it fire, then make it stop."""

    def __init__(self, alice_workspace, monkeypatch):
        self.ws = alice_workspace
        self.monkeypatch = monkeypatch
        monkeypatch.setattr(app.control, "ping", lambda **kwargs: [{"celery@a": {"ok": "pong"}}])
        services.heartbeat_touch(name="beat")

    def error_rate(self, on: bool):
        if on:
            Rollup.objects.create(series="request", key="GET x", resolution="m",
                                  bucket=timezone.now().replace(second=0, microsecond=0), count=100, failures=30)
        else:
            Rollup.objects.filter(series="request").delete()

    def new_error_group(self, on: bool):
        if on:
            ErrorGroup.objects.create(fingerprint="f" * 40, category="request", title="ValueError: x", times_seen=1)
        else:
            ErrorGroup.objects.update(status=GroupStatus.RESOLVED, resolved_at=timezone.now())

    def breaker_open(self, on: bool):
        breaker = http._breaker("instagram")
        if on:
            breaker.open()
            storage = breaker._state_storage
            if hasattr(storage, "_redis"):  # Redis storage only ever moves opened_at forward
                storage._redis.delete(storage._namespace("opened_at"))
            storage.opened_at = timezone.now() - timedelta(minutes=10)
        else:
            breaker.close()

    def queue_backlog(self, on: bool):
        if on:
            execution = _execution(self.ws)
            CampaignExecution.objects.filter(pk=execution.pk).update(queued_at=timezone.now() - timedelta(hours=1))
        else:
            CampaignExecution.objects.update(status=ExecutionStatus.SUCCEEDED)

    def beat_silent(self, on: bool):
        from monitoring.models import Heartbeat

        Heartbeat.objects.filter(name="beat").update(at=timezone.now() - timedelta(minutes=10 if on else 0))

    def workers_silent(self, on: bool):
        answers = [] if on else [{"celery@a": {"ok": "pong"}}]
        self.monkeypatch.setattr(app.control, "ping", lambda **kwargs: answers)

    def publish_failures(self, on: bool):
        execution = _execution(self.ws)
        if on:
            for minutes_ago in (3, 2, 1):
                _publish_step(execution, minutes_ago=minutes_ago)
        else:
            _publish_step(execution, status=StepStatus.SUCCEEDED, minutes_ago=0)

    def instagram_token(self, on: bool):
        from integrations.instagram.models import AccountStatus, InstagramAccount

        if on:
            InstagramAccount.objects.create(workspace=self.ws, ig_user_id="1", username="shop", page_id="2",
                                            token_expires_at=timezone.now() + timedelta(days=2))
        else:
            InstagramAccount.objects.update(status=AccountStatus.CONNECTED, token_expires_at=timezone.now() + timedelta(days=50))

    def n8n_callback_timeouts(self, on: bool):
        if on:
            _publish_step(_execution(self.ws), destination="n8n", category=ErrorCategory.TIMEOUT)
        else:
            ExecutionStep.objects.update(finished_at=timezone.now() - timedelta(days=1))

    def stripe_webhooks_failing(self, on: bool):
        from djstripe.models import WebhookEventTrigger

        from billing.models import ReceivedEvent

        if on:
            for _ in range(2):
                WebhookEventTrigger.objects.create(remote_ip="127.0.0.1", headers={}, body="{}", valid=True, exception="KeyError")
            # Processing is a task now: an event whose attempt failed counts too.
            now = timezone.now()
            ReceivedEvent.objects.create(
                event_id="evt_failing", type="invoice.paid", body="{}", next_attempt_at=now, attempts=1, last_attempt_at=now, last_error="APIConnectionError"
            )
        else:
            WebhookEventTrigger.objects.all().delete()
            ReceivedEvent.objects.update(processed_at=timezone.now())

    def backup_stale(self, on: bool):
        from django.conf import settings

        if on:  # backups are set up and none has succeeded
            self.monkeypatch.setattr(settings, "BACKUP_DIR", "/var/backups/marketing")
        else:
            services.heartbeat_touch(name="backup")


def _only(kind: str) -> AlertRule:
    AlertRule.objects.exclude(kind=kind).update(enabled=False)
    return AlertRule.objects.get(kind=kind)


def test_it_has_a_default_rule_for_every_kind(db):
    assert set(AlertRule.objects.values_list("kind", flat=True)) == set(AlertKind.values)


@pytest.mark.parametrize("kind", AlertKind.values)
def test_it_fires_notifies_once_reminds_and_resolves_each_default_alert(kind, channels, alice_workspace, monkeypatch):
    situations = Situations(alice_workspace, monkeypatch)
    rule = _only(kind)
    alerts.evaluate()
    assert not Alert.objects.exists(), "quiet before the situation"

    getattr(situations, kind)(True)
    alerts.evaluate()
    alert = Alert.objects.get()
    assert alert.state == AlertState.FIRING
    assert len(mail.outbox) == 1 and "[FIRING]" in mail.outbox[0].subject
    assert mail.outbox[0].to == ["oncall@example.com"]
    assert len(channels.calls) == 1

    alerts.evaluate()
    assert len(mail.outbox) == 1, "notified once"
    assert len(channels.calls) == 1

    Alert.objects.filter(pk=alert.pk).update(last_notified_at=timezone.now() - timedelta(minutes=rule.remind_after_minutes + 1))
    alerts.evaluate()
    assert "[STILL FIRING]" in mail.outbox[1].subject
    assert Alert.objects.get().reminders == 1

    getattr(situations, kind)(False)
    alerts.evaluate()
    alert.refresh_from_db()
    assert alert.state == AlertState.RESOLVED and alert.resolved_at
    assert "[RESOLVED]" in mail.outbox[2].subject
    assert len(channels.calls) == 3
    assert list(AlertNotification.objects.filter(alert=alert, channel="webhook").order_by("at", "id").values_list("kind", flat=True)) == [
        "firing", "reminder", "resolved"
    ]


def test_it_keeps_a_disabled_rule_quiet(channels, alice_workspace, monkeypatch):
    AlertRule.objects.update(enabled=False)
    alerts.evaluate()
    assert not Alert.objects.exists()


def test_it_verifies_the_webhook_signature(channels, alice_workspace, monkeypatch):
    Situations(alice_workspace, monkeypatch).workers_silent(True)
    _only(AlertKind.WORKERS_SILENT)
    alerts.evaluate()

    request = channels.calls[0].request
    body = request.body
    assert notify.verify_signature(
        secret=SECRET,
        timestamp=request.headers[notify.TIMESTAMP_HEADER],
        body=body,
        signature=request.headers[notify.SIGNATURE_HEADER],
    )
    assert not notify.verify_signature(
        secret=SECRET, timestamp=request.headers[notify.TIMESTAMP_HEADER], body=body + b" ",
        signature=request.headers[notify.SIGNATURE_HEADER],
    )
    assert not notify.verify_signature(secret="other", timestamp=request.headers[notify.TIMESTAMP_HEADER], body=body,
                                       signature=request.headers[notify.SIGNATURE_HEADER])
    assert json.loads(body)["event"] == "firing"


def test_it_refuses_an_old_signed_delivery(channels):
    body = b'{"event":"firing"}'
    stamp = 1_000_000
    signature = notify.sign(secret=SECRET, timestamp=stamp, body=body)
    assert not notify.verify_signature(secret=SECRET, timestamp=str(stamp), body=body, signature=signature, now=stamp + 301)
    assert notify.verify_signature(secret=SECRET, timestamp=str(stamp), body=body, signature=signature, now=stamp + 10)


def test_it_sends_a_slack_payload_in_the_slack_format(channels, alice_workspace, monkeypatch, settings):
    settings.MONITORING_ALERT_WEBHOOK_FORMAT = "slack"
    Situations(alice_workspace, monkeypatch).workers_silent(True)
    _only(AlertKind.WORKERS_SILENT)
    alerts.evaluate()
    payload = json.loads(channels.calls[0].request.body)
    assert set(payload) == {"text"}
    assert payload["text"].startswith("[FIRING] Workers silent")


def test_it_writes_the_evaluator_heartbeat_that_readyz_watches(channels, client, monkeypatch):
    from monitoring.models import Heartbeat

    alerts.evaluate()
    assert Heartbeat.objects.get(name="evaluator").at > timezone.now() - timedelta(seconds=5)


def test_it_lists_alerts_for_staff_on_the_alert_history_page(channels, client, alice_workspace, monkeypatch):
    Situations(alice_workspace, monkeypatch).workers_silent(True)
    _only(AlertKind.WORKERS_SILENT)
    alerts.evaluate()
    client.force_login(UserFactory(is_staff=True))
    response = client.get("/monitoring/alerts/")
    assert response.status_code == 200
    assert b"Workers silent" in response.content


def test_it_finds_beat_alive_when_the_minute_evaluation_comes_before_the_first_scheduled_heartbeat(channels, monkeypatch):
    from celery import signals

    from monitoring.models import Heartbeat

    monkeypatch.setattr(app.control, "ping", lambda **kwargs: [{"celery@a": {"ok": "pong"}}])
    _only(AlertKind.BEAT_SILENT)
    assert not Heartbeat.objects.filter(name="beat").exists()

    signals.beat_init.send(sender=None)
    alerts.evaluate()

    assert Heartbeat.objects.get(name="beat").at > timezone.now() - timedelta(seconds=5)
    assert not Alert.objects.exists()
    assert mail.outbox == []


@pytest.mark.parametrize(("expected", "answering", "fires"), [(1, 3, False), (2, 2, False), (3, 2, True)])
def test_it_counts_workers_until_the_expected_number_answered(channels, celery_ping, expected, answering, fires):
    ping = celery_ping(workers=answering)
    services.heartbeat_touch(name="beat")
    _only(AlertKind.WORKERS_SILENT)
    AlertRule.objects.filter(kind=AlertKind.WORKERS_SILENT).update(threshold=expected)

    alerts.evaluate()

    assert Alert.objects.filter(rule__kind=AlertKind.WORKERS_SILENT, state=AlertState.FIRING).exists() is fires
    assert ping.waited == ([1.0] if fires else [])
