"""The templates page: list, install, reinstall, remove; roles and tenancy."""

from integrations.n8n.models import N8nWorkflow
from tests.integrations.n8n.conftest import FORWARD_URL


def test_it_lists_the_templates_with_their_descriptions(alice_client, fake_n8n):
    response = alice_client.get("/n8n/templates/")
    assert response.status_code == 200
    for name in (b"Forward to a webhook", b"Approval in chat", b"Publish to Instagram"):
        assert name in response.content
    assert b"Zapier, Make" in response.content


def test_it_explains_what_to_configure_without_any_n8n(alice_client):
    response = alice_client.get("/n8n/templates/")
    assert b"Connect n8n first" in response.content
    assert b"Install</button>" not in response.content


def test_it_creates_the_workflow_on_install_and_says_so(alice_client, alice_workspace, fake_n8n):
    response = alice_client.post("/n8n/templates/forward-webhook/install/", {"forward-webhook-forward_url": FORWARD_URL}, follow=True)
    workflow = N8nWorkflow.objects.get(workspace=alice_workspace)
    assert fake_n8n.workflows[workflow.n8n_id]["active"]
    assert b"Installed" in response.content and b"Reinstall</button>" in response.content


def test_it_shows_the_fields_errors_on_install(alice_client, alice_workspace, fake_n8n):
    response = alice_client.post("/n8n/templates/forward-webhook/install/", {"forward-webhook-forward_url": "nope"})
    assert response.status_code == 400
    assert b"enter an http(s) URL" in response.content
    assert not N8nWorkflow.objects.exists()


def test_it_says_what_n8n_answered_when_an_install_fails(alice_client, fake_n8n):
    fake_n8n.api_key = "rotated"
    response = alice_client.post("/n8n/templates/forward-webhook/install/", {"forward-webhook-forward_url": FORWARD_URL}, follow=True)
    assert b"could not be installed" in response.content
    assert b"refused the API key" in response.content


def test_it_answers_404_for_an_unknown_template(alice_client, fake_n8n):
    assert alice_client.post("/n8n/templates/nope/install/").status_code == 404


def test_it_updates_the_installed_workflow_on_reinstall(alice_client, alice_workflow, fake_n8n):
    response = alice_client.post(
        f"/n8n/workflows/{alice_workflow.pk}/reinstall/", {"forward-webhook-forward_url": "https://new.example.com/"}, follow=True
    )
    assert b"Reinstalled" in response.content
    assert fake_n8n.api_calls("PUT")


def test_it_deletes_a_removed_workflow_in_n8n_and_here(alice_client, alice_workflow, fake_n8n):
    alice_client.post(f"/n8n/workflows/{alice_workflow.pk}/uninstall/")
    assert not fake_n8n.workflows
    assert not N8nWorkflow.objects.exists()


def test_it_does_not_let_a_member_install(client, bob, fake_n8n):
    client.force_login(bob)
    response = client.post("/n8n/templates/forward-webhook/install/", {"forward-webhook-forward_url": FORWARD_URL})
    assert response.status_code == 403
    assert not fake_n8n.workflows


def test_it_installs_charlies_workflow_into_his_own_workspace(charlie_client, charlie, alice_workspace, fake_n8n):
    charlie_client.post("/n8n/templates/forward-webhook/install/", {"forward-webhook-forward_url": FORWARD_URL})
    assert not N8nWorkflow.objects.filter(workspace=alice_workspace).exists()
    assert N8nWorkflow.objects.get().workspace == charlie.workspaces.get()


def test_it_does_not_let_charlie_reinstall_alices_workflow(charlie_client, alice_workflow, fake_n8n):
    response = charlie_client.post(f"/n8n/workflows/{alice_workflow.pk}/reinstall/", {"forward-webhook-forward_url": "https://evil.example/"})
    assert response.status_code == 404
    assert not fake_n8n.api_calls("PUT")


def test_it_does_not_let_charlie_remove_alices_workflow(charlie_client, alice_workflow, fake_n8n):
    assert charlie_client.post(f"/n8n/workflows/{alice_workflow.pk}/uninstall/").status_code == 404
    assert N8nWorkflow.objects.filter(pk=alice_workflow.pk).exists()


def test_it_does_not_show_charlie_alices_workflows(charlie_client, alice_workflow, fake_n8n):
    response = charlie_client.get("/n8n/templates/")
    assert alice_workflow.webhook_path.encode() not in response.content
    assert b"Reinstall</button>" not in response.content
