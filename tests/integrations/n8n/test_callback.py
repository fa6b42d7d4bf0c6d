"""n8n's signed callbacks at /hooks/n8n/<execution uuid>/."""

import uuid

import pytest

from campaigns.models import Campaign, CampaignExecution
from integrations.n8n import services
from marketing.webhooks.signature import sign
from tests.factories import CampaignFactory
from tests.integrations.n8n.conftest import FORWARD_URL, callback_body, secret_of


def snapshot(execution: CampaignExecution) -> tuple:
    execution.refresh_from_db()
    publish = execution.steps.get(name="publish")
    return execution.status, execution.error_message, execution.outputs.get("instagram_media_id"), publish.status, publish.detail


def test_it_finishes_the_run_on_a_signed_success(post_callback, waiting_run):
    response = post_callback(waiting_run, callback_body("success", "Published.", instagram_media_id="IG1", n8n_execution_id="42"))
    assert (response.status_code, response.json()) == (200, {"status": "ok", "execution": "succeeded"})
    waiting_run.refresh_from_db()
    assert (waiting_run.status, waiting_run.outputs["instagram_media_id"], waiting_run.outputs["n8n_execution_id"]) == ("succeeded", "IG1", "42")
    assert waiting_run.steps.get(name="publish").detail == "Published."
    assert Campaign.objects.get(pk=waiting_run.campaign_id).status == "completed"


def test_it_fails_the_run_with_n8ns_message_on_a_signed_failure(post_callback, waiting_run):
    response = post_callback(waiting_run, callback_body("failure", "The webhook did not accept the campaign: 500"))
    assert response.status_code == 200
    waiting_run.refresh_from_db()
    assert (waiting_run.status, waiting_run.error_message) == ("failed", "The webhook did not accept the campaign: 500")


def test_it_refuses_the_old_body_only_signature(post_callback, waiting_run):
    import hashlib
    import hmac

    body = callback_body()
    old = "sha256=" + hmac.new(secret_of(waiting_run.workspace).encode(), body, hashlib.sha256).hexdigest()
    response = post_callback(waiting_run, body, signature=old)
    assert response.status_code == 401 and "t=<unix seconds>,v1=" in response.json()["error"]
    assert snapshot(waiting_run)[0] == "running"


def test_it_answers_401_to_a_callback_signed_for_another_run(post_callback, waiting_run, start_run, n8n_campaign):
    body = callback_body()
    other = sign(secret=secret_of(waiting_run.workspace), target=str(uuid.uuid4()), body=body)
    assert post_callback(waiting_run, body, signature=other).status_code == 401
    assert snapshot(waiting_run)[0] == "running"


def test_it_answers_401_to_a_callback_signed_more_than_five_minutes_ago(post_callback, waiting_run):
    import time

    body = callback_body()
    stale = sign(secret=secret_of(waiting_run.workspace), target=str(waiting_run.uuid), body=body, timestamp=int(time.time()) - 301)
    response = post_callback(waiting_run, body, signature=stale)
    assert response.status_code == 401 and "5 minutes" in response.json()["error"]
    assert snapshot(waiting_run)[0] == "running"


def test_it_changes_nothing_on_an_exact_replay(post_callback, waiting_run, client):
    body = callback_body("success", "Published.", instagram_media_id="IG1")
    header = sign(secret=secret_of(waiting_run.workspace), target=str(waiting_run.uuid), body=body)
    first = post_callback(waiting_run, body, signature=header)
    before = snapshot(waiting_run)
    again = post_callback(waiting_run, body, signature=header)
    assert first.status_code == 200
    assert again.json() == {"status": "already finished"}
    assert snapshot(waiting_run) == before


def test_it_answers_401_to_a_bad_signature_and_changes_nothing(post_callback, waiting_run):
    before = snapshot(waiting_run)
    response = post_callback(waiting_run, callback_body(), signature="sha256=" + "0" * 64)
    assert response.status_code == 401
    assert "X-Signature" in response.json()["error"]
    assert snapshot(waiting_run) == before


def test_it_answers_401_to_a_missing_signature_and_changes_nothing(post_callback, waiting_run):
    before = snapshot(waiting_run)
    assert post_callback(waiting_run, callback_body(), signature=None).status_code == 401
    assert snapshot(waiting_run) == before


def test_it_answers_401_to_a_signature_over_another_body(post_callback, waiting_run):
    signed = sign(secret=secret_of(waiting_run.workspace), target=str(waiting_run.uuid), body=callback_body("failure"))
    assert post_callback(waiting_run, callback_body("success"), signature=signed).status_code == 401
    assert snapshot(waiting_run)[0] == "running"


def test_it_answers_401_to_a_signature_that_is_not_ascii(post_callback, waiting_run):
    assert post_callback(waiting_run, callback_body(), signature="sha256=é").status_code == 401


def test_it_answers_a_json_404_to_a_callback_url_without_a_uuid(client, db):
    response = client.post("/hooks/n8n/not-a-uuid/", data=callback_body(), content_type="application/json")
    assert (response.status_code, response.json()) == (404, {"error": "No run of an n8n campaign has this id."})


def test_it_answers_404_for_an_unknown_execution(client, db):
    response = client.post(f"/hooks/n8n/{uuid.uuid4()}/", data=callback_body(), content_type="application/json")
    assert (response.status_code, response.json()) == (404, {"error": "No run of an n8n campaign has this id."})


def test_it_answers_404_for_a_run_that_does_not_publish_through_n8n(post_callback, alice_workspace, fake_n8n, start_run):
    services.connection_ensure(workspace=alice_workspace)
    execution = start_run(CampaignFactory(workspace=alice_workspace))
    assert post_callback(execution, callback_body()).status_code == 404


def test_it_answers_400_to_a_body_that_is_not_json(post_callback, waiting_run):
    response = post_callback(waiting_run, b"status=success")
    assert response.status_code == 400 and response.json()["error"].startswith("The body is not valid JSON")
    assert snapshot(waiting_run)[0] == "running"


@pytest.mark.parametrize(
    "body",
    [
        b'["success"]',
        b'{"status": "done"}',
        b'{"status": "success", "outputs": []}',
        b'{"status": "success", "message": 3}',
        b"\xff\xfe",
        b'{"status": "success", "outputs": {"n": NaN}}',
        b"[" * 50_000,
        b'{"status": "success", "message": "\\ud800"}',
        b'{"status": "success", "message": "a\\u0000b"}',
        b'{"status": "success", "outputs": {"\\udc00": 1}}',
        b'{"status": "success", "outputs": {"n": 1e999}}',
        b'{"status": "success", "outputs": ' + b'{"a": ' * 70 + b"1" + b"}" * 70 + b"}",
    ],
    ids=[
        "list", "unknown-status", "outputs-list", "message-number", "not-utf8", "nan", "deep-nesting",
        "lone-surrogate", "nul", "surrogate-key", "infinite-number", "depth-70",
    ],
)
def test_it_answers_400_to_a_body_of_the_wrong_shape(post_callback, waiting_run, body):
    assert post_callback(waiting_run, body).status_code == 400
    assert snapshot(waiting_run)[0] == "running"


def test_it_answers_400_to_a_body_over_64_kb_unread(post_callback, waiting_run):
    body = callback_body(message="x" * (64 * 1024))
    response = post_callback(waiting_run, body)
    assert response.status_code == 400
    assert "64 KB" in response.json()["error"]
    assert snapshot(waiting_run)[0] == "running"


def test_it_acknowledges_a_second_callback_and_changes_nothing(post_callback, waiting_run):
    post_callback(waiting_run, callback_body("success", "Published.", instagram_media_id="IG1"))
    before = snapshot(waiting_run)
    response = post_callback(waiting_run, callback_body("failure", "Late failure", instagram_media_id="IG2"))
    assert (response.status_code, response.json()) == (200, {"status": "already finished"})
    assert snapshot(waiting_run) == before


def test_it_asks_n8n_to_retry_a_callback_during_the_hand_off(post_callback, waiting_run):
    waiting_run.steps.filter(name="publish").update(status="running")
    response = post_callback(waiting_run, callback_body())
    assert response.status_code == 409
    assert snapshot(waiting_run)[0] == "running"


def test_it_answers_json_to_a_get(client, waiting_run):
    response = client.get(f"/hooks/n8n/{waiting_run.uuid}/")
    assert (response.status_code, response["Allow"]) == (405, "POST")
    assert response.json() == {"error": "Use POST."}


def test_it_needs_no_login_and_no_csrf_token(waiting_run, post_callback, client):
    client.handler.enforce_csrf_checks = True
    assert post_callback(waiting_run, callback_body()).status_code == 200


def test_it_does_not_let_charlies_secret_call_back_into_alices_run(post_callback, waiting_run, charlie, fake_n8n):
    charlies_workspace = charlie.workspaces.get()
    services.workflow_install(workspace=charlies_workspace, template_key="forward-webhook", params={"forward_url": FORWARD_URL})
    before = snapshot(waiting_run)
    response = post_callback(waiting_run, callback_body(), secret=secret_of(charlies_workspace))
    assert response.status_code == 401
    assert snapshot(waiting_run) == before
