import pytest
from django.test import Client

from marketing.celery import app


@pytest.fixture
def failing_urls(settings):
    settings.ROOT_URLCONF = "tests.monitoring.urls"


@pytest.fixture
def quiet_client(failing_urls) -> Client:
    """A client that gets the 500 page instead of the view's exception."""
    return Client(raise_request_exception=False)


class CeleryPing:
    """``app.control.ping`` as Celery answers it: the workers' replies, collected until ``limit``
    of them came or, without a limit, until the whole ``timeout`` has passed (recorded, not slept)."""

    def __init__(self, workers: int):
        self.replies = [{f"celery@w{n}": {"ok": "pong"}} for n in range(workers)]
        self.waited: list[float] = []

    def __call__(self, *, timeout: float = 1.0, limit: int | None = None, **kwargs):
        if limit is None or len(self.replies) < limit:
            self.waited.append(timeout)
        return self.replies[:limit]


@pytest.fixture
def celery_ping(monkeypatch):
    """Call it with how many workers answer: it puts a CeleryPing in place of app.control.ping."""

    def answering(*, workers: int) -> CeleryPing:
        ping = CeleryPing(workers)
        monkeypatch.setattr(app.control, "ping", ping)
        return ping

    return answering
