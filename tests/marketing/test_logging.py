import io
import json
import logging

import pytest
from django.urls import reverse

from marketing.logging import JsonFormatter, RequestContextFilter


@pytest.fixture
def json_log():
    """Captures the project's request log as the JSON lines production writes."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestContextFilter())
    logger = logging.getLogger("marketing.request")
    logger.addHandler(handler)
    yield lambda: [json.loads(line) for line in stream.getvalue().splitlines()]
    logger.removeHandler(handler)


def test_it_echoes_and_logs_the_incoming_request_id(alice_client, alice, alice_workspace, json_log):
    response = alice_client.get(reverse("dashboard"), HTTP_X_REQUEST_ID="req-123")

    assert response["X-Request-ID"] == "req-123"
    [line] = json_log()
    assert line["request_id"] == "req-123"
    assert line["user_id"] == alice.pk
    assert line["workspace_id"] == alice_workspace.pk
    assert (line["method"], line["path"], line["status"]) == ("GET", "/", 200)


def test_it_makes_a_request_id_when_none_or_a_bad_one_comes(client, db, json_log):
    response = client.get(reverse("healthz"), HTTP_X_REQUEST_ID="bad id\nwith newline")

    generated = response["X-Request-ID"]
    assert len(generated) == 32
    assert json_log()[0]["request_id"] == generated


def test_it_drops_only_celerys_info_lines_about_routine_tasks():
    from django.conf import settings

    from marketing.logging import RoutineTaskFilter

    [routine] = settings.LOGGING["filters"]["routine_tasks"]["tasks"]
    quiet = RoutineTaskFilter(tasks=[routine])

    def passes(logger: str, level: int, message: str) -> bool:
        return quiet.filter(logging.LogRecord(logger, level, __file__, 1, message, (), None))

    assert not passes("celery.app.trace", logging.INFO, f"Task {routine}[abc] succeeded in 0.01s: 0")
    assert not passes("celery.beat", logging.INFO, f"Scheduler: Sending due task x ({routine})")
    assert passes("celery.app.trace", logging.ERROR, f"Task {routine}[abc] raised unexpected: OperationalError()")
    assert passes("celery.app.trace", logging.INFO, "Task campaigns.tasks.dispatch_due_runs[abc] succeeded in 0.2s: 3")
    assert passes("triggers.event_buffer", logging.INFO, f"{routine} mentioned outside Celery")
