"""Log lines never carry the secret part of a URL: trigger tokens, invitation, email-confirmation,
password-reset keys and public image tokens."""

import io
import json
import logging

import pytest

from marketing.logging import JsonFormatter, RequestContextFilter, redact
from triggers import services as trigger_services


@pytest.fixture
def all_logs():
    """Everything the project logs, as the JSON lines production writes."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestContextFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield stream.getvalue
    root.removeHandler(handler)


SECRET = "Zq3xSECRETtokenVALUE9876543210abcdefghij"


@pytest.mark.parametrize(
    "path",
    [
        f"/hooks/triggers/{SECRET}/",
        f"/hooks/triggers/{SECRET}",
        f"/invite/{SECRET}/",
        f"/accounts/confirm-email/{SECRET}/",
        f"/accounts/password/reset/key/1a-{SECRET}/",
        f"/media/p/{SECRET}.jpg",
    ],
)
def test_it_redacts_the_secret_part_of_each_secret_url_in_request_logs(client, db, all_logs, path):
    client.post(path, data="{}", content_type="application/json")
    client.get(path)
    output = all_logs()
    assert SECRET not in output
    assert "[redacted]" in output


def test_it_redacts_a_real_trigger_token_in_the_request_line(client, alice_workspace, all_logs):
    trigger = trigger_services.trigger_create(workspace=alice_workspace, by=None, name="T", kind="event")
    client.post(f"/hooks/triggers/{trigger.token}/", data='{"a": 1}', content_type="application/json")
    lines = [json.loads(line) for line in all_logs().splitlines()]
    request_line = next(line for line in lines if line.get("message") == "request")
    assert request_line["path"] == "/hooks/triggers/[redacted]/"
    assert trigger.token not in all_logs()


def test_it_leaves_other_paths_alone():
    assert redact("/campaigns/12/run/") == "/campaigns/12/run/"
    assert redact("GET /hooks/n8n/8c1d/ 200") == "GET /hooks/n8n/8c1d/ 200"
