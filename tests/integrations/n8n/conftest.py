import json
from collections.abc import Callable, Iterator

import pytest

from campaigns import executions
from campaigns.models import Campaign, CampaignExecution
from integrations import http
from integrations.n8n import services
from integrations.n8n.models import N8nConnection, N8nWorkflow
from marketing.webhooks.signature import sign as signature_sign
from tests.factories import CampaignFactory, add_image
from tests.integrations.conftest import outbound_settings
from tests.integrations.n8n.fake_n8n import FakeN8n, fake_n8n  # noqa: F401 - a fixture

# Nothing listens on the discard port: connections are refused at once.
UNREACHABLE_URL = "http://127.0.0.1:9"
FORWARD_URL = "https://hooks.example.com/marketing"


@pytest.fixture(autouse=True)
def n8n_settings(settings) -> Iterator[None]:
    """No developer environment leaks in: no n8n unless a test sets one; fast timeouts and backoff."""
    settings.N8N_BASE_URL = ""
    settings.N8N_API_KEY = ""
    settings.N8N_CALLBACK_TIMEOUT_MINUTES = 60
    settings.PUBLIC_BASE_URL = "http://testserver"
    outbound_settings(settings, timeout=2.0, retries=1, breaker_fail_max=50)
    yield
    http.reset_breakers()


@pytest.fixture
def alice_workflow(alice_workspace, fake_n8n: FakeN8n) -> N8nWorkflow:  # noqa: F811
    """The forward template, installed into Alice Co's n8n (the platform's fake one)."""
    return services.workflow_install(
        workspace=alice_workspace, template_key="forward-webhook", params={"forward_url": FORWARD_URL}
    )


@pytest.fixture
def n8n_campaign(alice_workspace, alice_workflow) -> Campaign:
    campaign = CampaignFactory(workspace=alice_workspace, targets=[alice_workflow], first_comment="First!")
    add_image(campaign)
    return campaign


@pytest.fixture
def start_run() -> Callable[[Campaign], CampaignExecution]:
    """Starts a run and runs it as the worker would; returns it refreshed."""

    def start(campaign: Campaign) -> CampaignExecution:
        execution = executions.execution_create(campaign=campaign)
        executions.execution_run(execution_id=execution.pk)
        execution.refresh_from_db()
        return execution

    return start


@pytest.fixture
def waiting_run(n8n_campaign, start_run) -> CampaignExecution:
    """A run handed to n8n, waiting for its callback."""
    execution = start_run(n8n_campaign)
    assert execution.status == "running"
    return execution


def secret_of(workspace) -> str:
    return N8nConnection.objects.get(workspace=workspace).callback_secret


def callback_body(status: str = "success", message: str = "Done.", **outputs) -> bytes:
    return json.dumps({"status": status, "message": message, "outputs": outputs}).encode()


@pytest.fixture
def post_callback(client):
    """POSTs a callback for a run, signed with its workspace's secret unless told otherwise."""

    def post(execution: CampaignExecution, body: bytes, *, secret: str | None = None, signature: str | None = "sign"):
        headers = {}
        if signature == "sign":
            headers["HTTP_X_SIGNATURE"] = signature_sign(
                secret=secret or secret_of(execution.workspace), target=str(execution.uuid), body=body
            )
        elif signature is not None:
            headers["HTTP_X_SIGNATURE"] = signature
        return client.post(
            f"/hooks/n8n/{execution.uuid}/", data=body, content_type="application/json", **headers
        )

    return post
