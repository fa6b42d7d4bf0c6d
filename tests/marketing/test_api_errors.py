"""The API answers JSON everywhere under /api/, and every error in one shape (RFC 9457 problem details)."""

import pytest
from django.test import Client

from marketing.services import api_token_create


@pytest.fixture
def api(alice, alice_workspace) -> Client:
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(workspace=alice_workspace, user=alice, name='t')[1]}")


def test_it_answers_json_links_at_the_root(client, db):
    response = client.get("/api/v1/")
    assert response.status_code == 200
    assert set(response.json()) == {"campaigns", "executions", "destinations", "schema", "docs"}
    assert response.json()["destinations"] == "http://testserver/api/v1/destinations/"


@pytest.mark.parametrize("path", ["/api/v1/campaigns/abc/", "/api/v1/executions/not-a-uuid/", "/api/v1/nothing/", "/api/v2/"])
def test_it_answers_a_json_404_to_an_address_that_names_nothing(api, path):
    response = api.get(path)
    assert response.status_code == 404
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == 404


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("get", "/api/v1/campaigns/999999/", None, 404),
        ("post", "/api/v1/campaigns/", {"name": ""}, 400),
        ("get", "/api/v1/campaigns/?sort=nope", None, 400),
        ("delete", "/api/v1/campaigns/", None, 405),
    ],
)
def test_it_answers_every_error_with_a_problem_document(api, method, path, body, status):
    import json

    response = getattr(api, method)(path, data=json.dumps(body) if body is not None else None, content_type="application/json")
    problem = response.json()
    assert response.status_code == status
    assert response["Content-Type"] == "application/problem+json"
    assert {"type", "title", "status", "detail"} <= set(problem) and problem["status"] == status


def test_it_answers_an_unauthenticated_call_with_a_problem_document(client, db):
    response = client.get("/api/v1/campaigns/")
    assert response.status_code in (401, 403)
    assert response.json()["status"] == response.status_code


def test_it_puts_field_errors_under_errors(api):
    response = api.post("/api/v1/campaigns/", data='{"name": ""}', content_type="application/json")
    assert "name" in response.json()["errors"]


def test_it_answers_a_form_body_over_the_limit_with_a_problem_and_reads_the_rest(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    body = b"dry_run=false&csv=" + b"%C2%AE" * 5000

    response = api.post("/api/v1/campaigns/import/", data=body, content_type="application/x-www-form-urlencoded")

    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["type"].endswith("#problem-too_large")
    assert "send JSON instead" in response.json()["detail"]
    assert response.wsgi_request._stream.read() == b""  # read to its end, so the server need not reset the connection
