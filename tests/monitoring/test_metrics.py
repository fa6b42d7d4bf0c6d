"""/metrics: who may read it, and its sums over several processes."""

import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from prometheus_client.parser import text_string_to_metric_families


@pytest.fixture
def metrics_settings(settings, db):
    settings.METRICS_TOKEN = "metrics-secret"
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    return settings


def test_it_refuses_anonymous_requests_with_401(client, metrics_settings):
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_it_refuses_a_wrong_token_with_403(client, metrics_settings):
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope").status_code == 403


def test_it_answers_the_right_token(client, metrics_settings):
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-secret")
    assert response.status_code == 200
    assert b"django_http_requests_latency_seconds_by_view_method" in response.content


def test_it_answers_an_allowed_address_without_a_token(client, metrics_settings):
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200


def test_it_answers_403_without_a_token_to_an_address_not_allowed(client, metrics_settings):
    metrics_settings.METRICS_TOKEN = ""
    assert client.get("/metrics", REMOTE_ADDR="203.0.113.9").status_code == 403


def _values(content: bytes) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(content.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_it_sums_counts_from_two_processes(client, metrics_settings, tmp_path):
    script = "import sys; from monitoring.metrics import PUBLISHES; PUBLISHES.labels('instagram', 'succeeded').inc(int(sys.argv[1]))"
    for amount in (2, 3):
        subprocess.run(
            [sys.executable, "-c", script, str(amount)],
            env={**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)},
            cwd=django_settings.BASE_DIR,
            check=True,
        )
    metrics_settings.PROMETHEUS_MULTIPROC_DIR = str(tmp_path)

    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-secret")

    values = _values(response.content)
    assert values[("publishes_total", (("destination", "instagram"), ("outcome", "succeeded")))] == 5.0


def test_it_carries_the_live_gauges(client, metrics_settings):
    values = _values(client.get("/metrics", HTTP_AUTHORIZATION="Bearer metrics-secret").content)
    names = {name for name, _ in values}
    assert {"scheduler_lag_seconds", "outbound_circuit_state"} <= names
    assert values[("outbound_circuit_state", (("provider", "instagram"),))] == 0
