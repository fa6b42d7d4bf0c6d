"""/healthz, /readyz and the status page."""

import pytest
from django.db import connections
from django.test import override_settings
from django.db.utils import OperationalError
from django.utils import timezone

from marketing.celery import app
from monitoring import services
from monitoring.models import HealthSample, Heartbeat
from tests.factories import UserFactory


@pytest.fixture
def healthy(db, monkeypatch):
    """A worker answers pings, beat and the evaluator have just run."""
    monkeypatch.setattr(app.control, "ping", lambda **kwargs: [{"celery@test": {"ok": "pong"}}])
    services.heartbeat_touch(name="beat")
    services.heartbeat_touch(name="evaluator")


def test_it_answers_healthz_cheaply_needing_nothing(client):
    response = client.get("/healthz")  # without the db fixture: a query would raise
    assert response.json() == {"status": "ok"}


def test_it_answers_readyz_200_with_each_check_and_its_latency(client, healthy):
    response = client.get("/readyz")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "ok"
    assert {"database", "cache", "broker", "worker", "beat", "alert_evaluator", "migrations", "disk"} <= set(body["checks"])
    assert all(check["latency_ms"] >= 0 for check in body["checks"].values())


def _break_database(monkeypatch, settings):
    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(connections["default"], "temporary_connection", refuse)


def _break_cache(monkeypatch, settings):
    from django.core.cache.backends.redis import RedisCache

    monkeypatch.setattr("health_check.checks.caches", {"default": RedisCache("redis://127.0.0.1:1/0", {})})


def _break_broker(monkeypatch, settings):
    monkeypatch.setattr(app.conf, "broker_url", "redis://127.0.0.1:1/0")


def _break_worker(monkeypatch, settings):
    monkeypatch.setattr(app.control, "ping", lambda **kwargs: [])


def _break_beat(monkeypatch, settings):
    Heartbeat.objects.filter(name="beat").update(at=timezone.now() - timezone.timedelta(minutes=10))


def _break_evaluator(monkeypatch, settings):
    Heartbeat.objects.filter(name="evaluator").update(at=timezone.now() - timezone.timedelta(minutes=4))


def _break_migrations(monkeypatch, settings):
    from django.db.migrations.recorder import MigrationRecorder

    MigrationRecorder.Migration.objects.filter(app="monitoring").delete()


def _break_disk(monkeypatch, settings):
    settings.MONITORING_DISK_MIN_FREE_PERCENT = 100.1


@pytest.mark.parametrize(
    ("check", "breaks"),
    [
        ("database", _break_database),
        ("cache", _break_cache),
        ("broker", _break_broker),
        ("worker", _break_worker),
        ("beat", _break_beat),
        ("alert_evaluator", _break_evaluator),
        ("migrations", _break_migrations),
        ("disk", _break_disk),
    ],
)
def test_it_makes_readyz_503_naming_each_failing_check(client, healthy, monkeypatch, settings, check, breaks):
    breaks(monkeypatch, settings)
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["failing"] == [check]
    assert body["checks"][check]["status"] == "failing"
    assert body["checks"][check]["error"]


def test_it_checks_redis_in_readyz_when_there_is_redis(client, healthy):
    with override_settings(REDIS_URL="redis://127.0.0.1:1/0"):
        response = client.get("/readyz?check=redis")
    assert response.status_code == 503
    assert response.json()["failing"] == ["redis"]


def test_it_runs_only_some_readyz_checks_when_asked(client, healthy, monkeypatch):
    monkeypatch.setattr(app.control, "ping", lambda **kwargs: [])
    assert client.get("/readyz?check=database,cache").status_code == 200


def test_it_shows_staff_the_checks_and_their_history_on_the_status_page(client, healthy):
    services.health_sample()
    client.force_login(UserFactory(is_staff=True))
    response = client.get("/monitoring/status/")
    assert response.status_code == 200
    assert b"alert_evaluator" in response.content
    assert HealthSample.objects.filter(name="database", ok=True).exists()
    assert len(response.context["history"]) >= 8


def test_it_keeps_the_status_page_for_staff_only(alice_client):
    assert alice_client.get("/monitoring/status/").status_code == 302


def test_it_answers_readyz_at_the_first_worker_reply_instead_of_waiting_out_the_ping(client, healthy, celery_ping):
    ping = celery_ping(workers=3)

    response = client.get("/readyz?check=worker")

    assert response.json()["checks"]["worker"]["status"] == "ok"
    assert ping.waited == []


def test_it_waits_out_the_ping_when_no_worker_answers(client, healthy, celery_ping):
    ping = celery_ping(workers=0)

    response = client.get("/readyz?check=worker")

    assert response.status_code == 503
    assert ping.waited == [1.0]
