"""/metrics: who may read it, and what it says with one process or many."""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from . import live


def refusal(request: HttpRequest) -> HttpResponse | None:
    """401 without credentials, 403 with wrong ones or from an address not allowed; None to let in.

    A request from an allowed address needs no token. The address is REMOTE_ADDR: behind a
    proxy that is the proxy's, so list only addresses no outside request can arrive from.
    """
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header:
        scheme, _, token = header.partition(" ")
        if (
            settings.METRICS_TOKEN
            and scheme.lower() == "bearer"
            and hmac.compare_digest(token.strip().encode(), settings.METRICS_TOKEN.encode())
        ):
            return None
        return JsonResponse({"error": "Wrong metrics token."}, status=403)
    if _address_allowed(request.META.get("REMOTE_ADDR", "")):
        return None
    if settings.METRICS_TOKEN:
        response = JsonResponse({"error": "Send Authorization: Bearer <METRICS_TOKEN>."}, status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return JsonResponse({"error": "Metrics are readable from METRICS_ALLOWED_IPS only."}, status=403)


def _address_allowed(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for network in settings.METRICS_ALLOWED_IPS:
        try:
            if ip in ipaddress.ip_network(network, strict=False):
                return True
        except ValueError:
            continue
    return False


class LiveCollector:
    """Gauges read when scraped, so they are right however many processes there are."""

    def collect(self):
        queue = GaugeMetricFamily("celery_queue_length", "Messages waiting in a Celery queue.", labels=["queue"])
        for name, depth in live.queue_depths().items():
            queue.add_metric([name], depth)
        yield queue
        yield GaugeMetricFamily(
            "scheduler_lag_seconds",
            "How long the oldest due planned run has waited to be dispatched.",
            value=live.scheduler_lag_seconds(),
        )
        breaker = GaugeMetricFamily(
            "outbound_circuit_state", "Circuit breaker per provider: 0 closed, 1 half-open, 2 open.", labels=["provider"]
        )
        for provider, (state, _) in live.breaker_states().items():
            breaker.add_metric([provider], live.BREAKER_STATES.get(state, 0))
        yield breaker
        ages = GaugeMetricFamily(
            "monitoring_heartbeat_age_seconds", "Seconds since beat's heartbeat or the last alert evaluation.", labels=["name"]
        )
        for name, age in live.heartbeat_ages().items():
            ages.add_metric([name], age)
        yield ages
        from .models import Alert, AlertState

        firing = GaugeMetricFamily("monitoring_alerts_firing", "Alerts firing now, per rule kind.", labels=["kind"])
        counts: dict[str, int] = {}
        for kind in Alert.objects.filter(state=AlertState.FIRING).values_list("rule__kind", flat=True):
            counts[kind] = counts.get(kind, 0) + 1
        for kind, count in counts.items():
            firing.add_metric([kind], count)
        yield firing


def exposition() -> bytes:
    """The text Prometheus scrapes: every process's metrics (multiprocess mode) plus the live gauges."""
    if settings.PROMETHEUS_MULTIPROC_DIR:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=settings.PROMETHEUS_MULTIPROC_DIR)
        text = generate_latest(registry)
    else:
        text = generate_latest(REGISTRY)
    live_registry = CollectorRegistry()
    live_registry.register(LiveCollector())
    return text + generate_latest(live_registry)
