"""Installing templates into the workspace's n8n, and reinstalling them."""

import pytest
from django.core.exceptions import ValidationError
from django.db import connection as db

from integrations.n8n import services
from integrations.n8n.client import N8nError
from integrations.n8n.models import N8nConnection, N8nWorkflow
from tests.factories import WorkspaceFactory
from tests.integrations.n8n.conftest import FORWARD_URL


def install(workspace, key="forward-webhook", **params):
    return services.workflow_install(workspace=workspace, template_key=key, params=params or {"forward_url": FORWARD_URL})


def test_it_creates_activates_and_records_the_workflow(alice_workspace, fake_n8n):
    workflow = install(alice_workspace)
    in_n8n = fake_n8n.workflows[workflow.n8n_id]
    assert in_n8n["active"] is True
    assert workflow.active and workflow.template_key == "forward-webhook"
    assert fake_n8n.webhook_path_of(in_n8n) == workflow.webhook_path
    assert workflow.webhook_path.startswith(f"mkt-{alice_workspace.slug}-forward-webhook-")
    assert in_n8n["name"] == workflow.name == "Marketing · Alice Co · Forward to a webhook"
    assert workflow.params["forward_url"] == FORWARD_URL


def test_it_puts_the_callback_secret_into_an_n8n_crypto_credential(alice_workspace, fake_n8n):
    workflow = install(alice_workspace)
    connection = N8nConnection.objects.get(workspace=alice_workspace)
    credential = fake_n8n.credentials[connection.n8n_credentials["callback"]]
    assert (credential["type"], credential["data"]) == ("crypto", {"hmacSecret": connection.callback_secret})
    signer = next(n for n in fake_n8n.workflows[workflow.n8n_id]["nodes"] if n["name"] == "Sign callback")
    assert signer["credentials"]["crypto"]["id"] == connection.n8n_credentials["callback"]
    assert connection.callback_secret not in str(fake_n8n.workflows[workflow.n8n_id])


def test_it_puts_the_run_token_into_the_webhooks_header_auth_credential(alice_workspace, fake_n8n):
    workflow = install(alice_workspace)
    connection = N8nConnection.objects.get(workspace=alice_workspace)
    credential = fake_n8n.credentials[connection.n8n_credentials["trigger"]]
    assert (credential["type"], credential["data"]) == ("httpHeaderAuth", {"name": "X-Marketing-Token", "value": connection.trigger_token})
    webhook = next(n for n in fake_n8n.workflows[workflow.n8n_id]["nodes"] if n["name"] == "Webhook")
    assert webhook["credentials"]["httpHeaderAuth"]["id"] == connection.n8n_credentials["trigger"]
    assert connection.trigger_token != connection.callback_secret


def test_it_gives_each_workspace_its_own_webhook_path(alice_workspace, fake_n8n):
    other = WorkspaceFactory()
    assert install(alice_workspace).webhook_path != install(other).webhook_path


def test_it_updates_the_same_workflow_on_reinstall_and_keeps_its_path(alice_workflow, fake_n8n):
    fake_n8n.workflows[alice_workflow.n8n_id]["active"] = False
    again = services.workflow_reinstall(workflow=alice_workflow, params={"forward_url": "https://other.example.com/in"})
    assert (again.pk, again.n8n_id, again.webhook_path) == (alice_workflow.pk, alice_workflow.n8n_id, alice_workflow.webhook_path)
    assert len(fake_n8n.workflows) == 1
    assert [r.method for r in fake_n8n.api_calls() if r.path.startswith("/api/v1/workflows")][-2:] == ["PUT", "POST"]
    assert fake_n8n.workflows[again.n8n_id]["active"] is True
    forward = next(n for n in fake_n8n.workflows[again.n8n_id]["nodes"] if n["name"] == "Forward")
    assert forward["parameters"]["url"] == "https://other.example.com/in"


def test_it_reuses_the_stored_settings_on_reinstall_when_none_are_given(alice_workflow, fake_n8n):
    services.workflow_reinstall(workflow=alice_workflow)
    forward = next(n for n in fake_n8n.workflows[alice_workflow.n8n_id]["nodes"] if n["name"] == "Forward")
    assert forward["parameters"]["url"] == FORWARD_URL


def test_it_updates_the_credential_on_reinstall_rather_than_adding_one(alice_workflow, fake_n8n):
    services.workflow_reinstall(workflow=alice_workflow)
    assert len(fake_n8n.credentials) == 2  # the callback secret and the run token
    assert len(fake_n8n.api_calls("PATCH")) == 2


def test_it_creates_the_workflow_again_on_reinstall_when_it_was_deleted_in_n8n(alice_workflow, fake_n8n):
    fake_n8n.workflows.clear()
    again = services.workflow_reinstall(workflow=alice_workflow)
    assert again.n8n_id != alice_workflow.n8n_id
    assert fake_n8n.workflows[again.n8n_id]["active"] is True


def test_it_keeps_an_inactive_workflow_with_n8ns_reason_when_activation_fails(alice_workspace, fake_n8n):
    fake_n8n.fail("POST", "/api/v1/workflows/", 400, {"message": "Cannot publish workflow: node issues"})
    with pytest.raises(N8nError, match="Cannot publish workflow"):
        install(alice_workspace)
    workflow = N8nWorkflow.objects.get(workspace=alice_workspace)
    assert not workflow.active
    assert "Cannot publish workflow" in workflow.last_error


def test_it_refuses_settings_that_are_not_urls(alice_workspace, fake_n8n):
    with pytest.raises(ValidationError) as caught:
        install(alice_workspace, forward_url="={{ $env.N8N_ENCRYPTION_KEY }}")
    assert "forward_url" in caught.value.message_dict
    assert not fake_n8n.workflows


def test_it_sends_the_instagram_token_to_n8n_and_keeps_it_nowhere_here(alice_workspace, fake_n8n):
    workflow = install(alice_workspace, "instagram-publish", instagram_user_id="1784", access_token="IG-TOKEN-123")
    tokens = [c for c in fake_n8n.credentials.values() if c["type"] == "facebookGraphApi"]
    assert [t["data"] for t in tokens] == [{"accessToken": "IG-TOKEN-123"}]
    assert workflow.params["graph_url"] == "https://graph.facebook.com/v23.0"
    with db.cursor() as cursor:
        cursor.execute("SELECT params FROM n8n_n8nworkflow")
        assert "IG-TOKEN-123" not in str(cursor.fetchall())


def test_it_keeps_the_credential_when_reinstalling_instagram_without_a_token(alice_workspace, fake_n8n):
    workflow = install(alice_workspace, "instagram-publish", instagram_user_id="1784", access_token="IG-TOKEN-123")
    services.workflow_reinstall(workflow=workflow, params={"instagram_user_id": "1784"})
    tokens = [c for c in fake_n8n.credentials.values() if c["type"] == "facebookGraphApi"]
    assert len(tokens) == 1 and tokens[0]["data"] == {"accessToken": "IG-TOKEN-123"}


def test_it_says_what_to_configure_without_any_n8n(alice_workspace):
    with pytest.raises(N8nError, match="No n8n is configured"):
        install(alice_workspace)
