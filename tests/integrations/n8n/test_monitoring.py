"""The page of recent n8n executions."""

from integrations.n8n import services
from tests.integrations.n8n.conftest import FORWARD_URL, callback_body


def test_it_lists_recent_executions_of_the_workspaces_workflows(alice_client, alice_workflow, fake_n8n):
    fake_n8n.add_execution(alice_workflow.n8n_id, status="error", startedAt="2026-01-02T10:00:00.000Z")
    fake_n8n.add_execution(alice_workflow.n8n_id, status="success", startedAt="2026-01-03T10:00:00.000Z")
    response = alice_client.get("/n8n/executions/")
    assert response.status_code == 200
    rows = response.context["rows"]
    assert [row.status for row in rows] == ["success", "error"]
    assert fake_n8n.requests[-1].query["workflowId"] == [alice_workflow.n8n_id]


def test_it_links_an_execution_to_our_run(alice_client, waiting_run, alice_workflow, fake_n8n, post_callback):
    found = fake_n8n.add_execution(alice_workflow.n8n_id)
    post_callback(waiting_run, callback_body(n8n_execution_id=found["id"]))
    response = alice_client.get("/n8n/executions/")
    assert response.context["rows"][0].execution == waiting_run
    assert waiting_run.get_absolute_url().encode() in response.content


def test_it_shows_none_of_another_workspaces_executions(charlie_client, charlie, alice_workflow, fake_n8n):
    fake_n8n.add_execution(alice_workflow.n8n_id)
    services.workflow_install(workspace=charlie.workspaces.get(), template_key="forward-webhook", params={"forward_url": FORWARD_URL})
    response = charlie_client.get("/n8n/executions/")
    assert response.context["rows"] == []
    assert all(r.query.get("workflowId") != [alice_workflow.n8n_id] for r in fake_n8n.requests)


def test_it_says_what_n8n_answered_instead_of_failing(alice_client, alice_workflow, fake_n8n):
    fake_n8n.api_key = "rotated"
    response = alice_client.get("/n8n/executions/")
    assert response.status_code == 200
    assert b"refused the API key" in response.content


def test_it_explains_what_to_configure_without_any_n8n(alice_client):
    response = alice_client.get("/n8n/executions/")
    assert response.status_code == 200
    assert b"Connect n8n first" in response.content


def test_it_shows_a_member_the_executions(client, bob, alice_workflow, fake_n8n):
    fake_n8n.add_execution(alice_workflow.n8n_id)
    client.force_login(bob)
    assert len(client.get("/n8n/executions/").context["rows"]) == 1
