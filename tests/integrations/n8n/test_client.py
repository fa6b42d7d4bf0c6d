"""The n8n client against a fake n8n over real HTTP."""

import pytest

from integrations.n8n import client as n8n
from integrations.n8n.client import N8nClient, N8nError
from tests.integrations.n8n.conftest import UNREACHABLE_URL

WORKFLOW = {"name": "Hello", "nodes": [], "connections": {}, "settings": {"executionOrder": "v1"}}


@pytest.fixture
def api(fake_n8n) -> N8nClient:
    return N8nClient(fake_n8n.base_url, fake_n8n.api_key)


def test_it_sends_the_api_key_in_the_n8n_header(api, fake_n8n):
    api.list_workflows()
    assert fake_n8n.requests[-1].headers["x-n8n-api-key"] == fake_n8n.api_key
    assert fake_n8n.requests[-1].path == "/api/v1/workflows"


def test_it_says_the_key_is_bad_on_a_401(fake_n8n):
    with pytest.raises(N8nError) as caught:
        N8nClient(fake_n8n.base_url, "wrong").list_workflows()
    assert caught.value.kind == n8n.BAD_KEY
    assert "refused the API key (HTTP 401)" in caught.value.message


def test_it_says_n8n_is_unreachable_when_nothing_listens():
    with pytest.raises(N8nError) as caught:
        N8nClient(UNREACHABLE_URL, "key").list_workflows()
    assert caught.value.kind == n8n.UNREACHABLE
    assert caught.value.retryable
    assert "could not be reached" in caught.value.message


def test_it_says_the_public_api_is_off_on_a_404_for_the_api(api, fake_n8n):
    fake_n8n.public_api = False
    with pytest.raises(N8nError) as caught:
        api.list_workflows()
    assert caught.value.kind == n8n.API_DISABLED
    assert "public API is off" in caught.value.message


def test_it_lists_workflows(api, fake_n8n):
    api.create_workflow(WORKFLOW)
    assert [workflow["name"] for workflow in api.list_workflows()] == ["Hello"]


def test_it_creates_a_workflow_without_the_read_only_fields_n8n_refuses(api, fake_n8n):
    created = api.create_workflow({**WORKFLOW, "active": True, "id": "x", "tags": []})
    assert created["id"] in fake_n8n.workflows
    assert set(fake_n8n.api_calls("POST")[-1].json) == {"name", "nodes", "connections", "settings"}


def test_it_passes_on_n8ns_reason_for_a_refused_workflow(api):
    with pytest.raises(N8nError) as caught:
        api.create_workflow({"name": "No nodes"})
    assert caught.value.kind == n8n.REJECTED
    assert "must have required property 'nodes'" in caught.value.message


def test_it_activates_a_workflow(api, fake_n8n):
    created = api.create_workflow(WORKFLOW)
    assert api.activate_workflow(created["id"])["active"] is True
    assert fake_n8n.workflows[created["id"]]["active"] is True


def test_it_deactivates_a_workflow(api, fake_n8n):
    created = api.create_workflow(WORKFLOW)
    api.activate_workflow(created["id"])
    api.deactivate_workflow(created["id"])
    assert fake_n8n.workflows[created["id"]]["active"] is False


def test_it_says_not_found_for_an_unknown_workflow(api):
    with pytest.raises(N8nError) as caught:
        api.get_workflow("nope")
    assert caught.value.kind == n8n.NOT_FOUND


def test_it_lists_a_workflows_executions(api, fake_n8n):
    fake_n8n.add_execution("wf-a")
    fake_n8n.add_execution("wf-b", status="error")
    executions = api.list_executions(workflow_id="wf-b", limit=5)
    assert [(e["workflowId"], e["status"]) for e in executions] == [("wf-b", "error")]
    assert fake_n8n.requests[-1].query == {"workflowId": ["wf-b"], "limit": ["5"]}


def test_it_gets_one_execution_with_its_data(api, fake_n8n):
    execution = fake_n8n.add_execution("wf-a", data={"resultData": {"lastNodeExecuted": "Forward"}})
    assert api.get_execution(execution["id"], include_data=True)["data"]["resultData"]["lastNodeExecuted"] == "Forward"


def test_it_retries_a_server_error_on_a_read(api, fake_n8n):
    fake_n8n.fail("GET", "/api/v1/workflows", 503)
    assert api.list_workflows() == []
    assert len(fake_n8n.api_calls("GET")) == 2


def test_it_never_retries_a_webhook_post(api, fake_n8n):
    fake_n8n.fail("POST", "/webhook/", 503)
    with pytest.raises(N8nError) as caught:
        api.trigger_webhook("some-path", body=b"{}")
    assert caught.value.retryable
    assert len(fake_n8n.webhook_calls()) == 1


def test_it_says_not_found_for_a_webhook_nobody_listens_on(api):
    with pytest.raises(N8nError) as caught:
        api.trigger_webhook("inactive-path", body=b"{}")
    assert caught.value.kind == n8n.NOT_FOUND
    assert "is not registered" in caught.value.message
