"""An event is a JSON object: arrays, strings, numbers and null are refused with a 400 in the
API's problem-details shape, at the webhook intake, the API's fire endpoint and the test box."""

import pytest
from django.test import Client

from marketing.services import api_token_create
from triggers.models import TriggerEvent

NOT_OBJECTS = [b"[1, 2]", b'"text"', b"42", b"true", b"null"]


@pytest.fixture
def api(alice, alice_workspace):
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(workspace=alice_workspace, user=alice, name='t')[1]}")


def _assert_problem(response) -> dict:
    assert response.status_code == 400
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 400 and body["title"] == "Invalid request" and body["type"].endswith("not_json")
    assert "JSON object" in body["detail"]
    return body


@pytest.mark.parametrize("body", NOT_OBJECTS)
def test_it_refuses_a_webhook_event_that_is_not_an_object(make_trigger, post_event, body):
    problem = _assert_problem(post_event(make_trigger(), body))
    assert problem["message"] == problem["detail"]  # kept for senders that read "message"
    assert not TriggerEvent.objects.exists()


def test_it_answers_every_webhook_refusal_with_a_problem(post_event):
    response = post_event("no-such-token", b"{}")
    assert response.status_code == 404 and response["Content-Type"] == "application/problem+json"
    assert response.json()["error"] == "unknown_token" and response.json()["status"] == 404


@pytest.mark.parametrize("body", NOT_OBJECTS + [b"{nope"])
def test_it_refuses_an_api_fire_body_that_is_not_an_object(api, make_trigger, body):
    trigger = make_trigger(kind="manual")
    response = api.post(f"/api/v1/triggers/{trigger.pk}/fire/", data=body, content_type="application/json")
    assert response.status_code == 400 and response["Content-Type"] == "application/problem+json"
    assert "JSON" in response.json()["detail"]
    assert not TriggerEvent.objects.exists()


def test_it_keeps_an_api_fire_object_as_the_events_payload(api, make_trigger):
    trigger = make_trigger(kind="manual")
    response = api.post(f"/api/v1/triggers/{trigger.pk}/fire/", data=b'{"why": "launch"}', content_type="application/json")
    assert response.status_code == 202
    assert TriggerEvent.objects.get().payload == {"why": "launch"}


def test_it_fires_through_the_api_without_a_body(api, make_trigger):
    trigger = make_trigger(kind="manual")
    assert api.post(f"/api/v1/triggers/{trigger.pk}/fire/").status_code == 202
    assert TriggerEvent.objects.get().payload == {}


@pytest.mark.parametrize("body", NOT_OBJECTS)
def test_it_refuses_a_payload_that_is_not_an_object_in_the_test_box(alice_client, make_trigger, body):
    trigger = make_trigger()
    response = alice_client.post(f"/triggers/{trigger.pk}/test/", {"payload": body.decode()}, headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "An event is a JSON object" in response.content.decode()
    assert "decision" not in response.context or not response.context.get("decision")
