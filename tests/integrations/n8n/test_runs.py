"""Runs handed to n8n: the payload, its signature, and what happens when n8n is not there."""

import json

import pytest
import time_machine

from campaigns import executions
from campaigns.destinations import RetryLater
from campaigns.models import CampaignExecution
from integrations.n8n.signing import canonical_json, sign
from tests.factories import add_image
from tests.integrations.n8n.conftest import secret_of


def handed_payload(fake_n8n, workflow) -> tuple[bytes, dict]:
    [call] = fake_n8n.webhook_calls(workflow.webhook_path)
    return call.body, call.json


def test_it_posts_the_campaign_to_the_workflows_production_webhook(n8n_campaign, alice_workflow, fake_n8n, start_run):
    with time_machine.travel("2026-03-01 09:30:00+00:00", tick=False):
        waiting_run = start_run(n8n_campaign)
    _, payload = handed_payload(fake_n8n, alice_workflow)
    image = n8n_campaign.images.get()
    assert payload["execution_uuid"] == str(waiting_run.uuid)
    assert payload["callback_url"] == f"http://testserver/hooks/n8n/{waiting_run.uuid}/"
    assert payload["timestamp"] == "2026-03-01T09:30:00Z"
    assert payload["caption"] == "Our linen collection is here.\n\n#summer #linen"
    assert payload["hashtags"] == ["#summer", "#linen"]
    assert payload["image_urls"] == [image.public_url] and image.public_url.startswith("http://testserver/")
    assert payload["image_alt_texts"] == [""]
    assert payload["campaign"] == {
        "id": n8n_campaign.pk, "name": n8n_campaign.name, "brief": n8n_campaign.brief,
        "caption": n8n_campaign.caption, "hashtags": "#summer #linen", "first_comment": "First!", "format": "post",
    }  # fmt: skip
    assert payload["workspace"] == {"slug": n8n_campaign.workspace.slug, "name": "Alice Co"}


def test_it_hands_each_images_alt_text_in_the_order_of_its_url(n8n_campaign, alice_workflow, fake_n8n, start_run):
    second = add_image(n8n_campaign)
    second.alt_text = "A shirt on sand"
    second.save()

    start_run(n8n_campaign)

    _, payload = handed_payload(fake_n8n, alice_workflow)
    assert payload["image_urls"][1] == second.public_url
    assert payload["image_alt_texts"] == ["", "A shirt on sand"]


def test_it_signs_with_the_hmac_of_the_canonical_json_of_the_rest(waiting_run, alice_workflow, fake_n8n):
    body, payload = handed_payload(fake_n8n, alice_workflow)
    unsigned = {key: value for key, value in payload.items() if key != "signature"}
    expected = sign(secret_of(waiting_run.workspace), json.dumps(unsigned, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())
    assert payload["signature"] == expected
    assert body == canonical_json(payload)  # what we send is itself canonical


def test_it_waits_for_the_callback_without_a_worker(waiting_run, alice_workflow):
    publish = waiting_run.steps.get(name="publish")
    assert (waiting_run.status, waiting_run.lease_expires_at) == ("running", None)
    assert publish.status == "waiting"
    assert publish.detail == f"Handed to n8n workflow “{alice_workflow.name}”; waiting for its callback."
    assert publish.state["n8n"]["n8n_workflow_id"] == alice_workflow.n8n_id


def test_it_does_not_hand_a_redelivered_run_to_n8n_twice(waiting_run, alice_workflow, fake_n8n):
    publish = waiting_run.steps.get(name="publish")
    publish.status = "running"
    publish.save()
    CampaignExecution.objects.filter(pk=waiting_run.pk).update(lease_expires_at="2000-01-01T00:00:00Z")
    executions.execution_run(execution_id=waiting_run.pk)
    assert len(fake_n8n.webhook_calls(alice_workflow.webhook_path)) == 1


def test_it_fails_the_run_saying_to_reinstall_on_an_inactive_workflow(n8n_campaign, alice_workflow, fake_n8n, start_run):
    fake_n8n.workflows[alice_workflow.n8n_id]["active"] = False
    execution = start_run(n8n_campaign)
    assert execution.status == "failed"
    assert "Reinstall the template" in execution.error_message
    assert "HTTP 404" in execution.error_message


def test_it_retries_the_run_later_when_n8n_is_unreachable(n8n_campaign, fake_n8n):
    fake_n8n.fail("POST", "/webhook/", 502)
    execution = executions.execution_create(campaign=n8n_campaign)
    with pytest.raises(RetryLater):
        executions.execution_run(execution_id=execution.pk)
    execution.refresh_from_db()
    assert execution.status == "queued"
    executions.execution_run(execution_id=execution.pk)
    execution.refresh_from_db()
    assert execution.status == "running"
    assert execution.steps.get(name="publish").status == "waiting"


def test_it_fails_the_run_saying_what_to_configure_without_any_n8n(n8n_campaign, settings, start_run):
    settings.N8N_BASE_URL = ""
    execution = start_run(n8n_campaign)
    assert execution.status == "failed"
    assert "No n8n is configured" in execution.error_message


def test_it_carries_the_workspaces_token_in_the_run_for_the_webhooks_header_auth(waiting_run, alice_workflow, fake_n8n):
    [call] = fake_n8n.webhook_calls(alice_workflow.webhook_path)
    assert call.headers["x-marketing-token"] == waiting_run.workspace.n8n_connection.trigger_token


def test_it_fails_the_run_saying_to_reinstall_on_a_refused_token(n8n_campaign, alice_workspace, fake_n8n, start_run):
    connection = alice_workspace.n8n_connection
    connection.trigger_token = "stale"
    connection.save()
    execution = start_run(n8n_campaign)
    assert execution.status == "failed"
    assert "refused the run's token" in execution.error_message and "Reinstall" in execution.error_message
