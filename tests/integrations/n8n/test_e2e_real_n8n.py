"""The round trip through a real n8n 2.8.4: `make e2e-n8n` (python -m e2e.n8n.run) starts one and runs these.

Skipped unless N8N_E2E_BASE_URL and N8N_E2E_API_KEY point at a running n8n. Our app runs on
pytest-django's live server; n8n calls its callback URL for real. Everything listens on 127.0.0.1.
"""

import json
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests

from campaigns import executions
from campaigns.models import CampaignExecution
from campaigns.services import campaign_images_describe
from integrations.n8n import selectors, services
from integrations.n8n.client import N8nClient
from integrations.n8n.signing import canonical_json, sign
from tests.factories import CampaignFactory, add_image
from tests.local_server import LocalServer, QuietHandler

BASE_URL = os.environ.get("N8N_E2E_BASE_URL", "")
API_KEY = os.environ.get("N8N_E2E_API_KEY", "")
ROUND_TRIP_TIMEOUT = 60.0

pytestmark = [
    pytest.mark.skipif(not (BASE_URL and API_KEY), reason="needs a real n8n: run `make e2e-n8n`"),
    pytest.mark.django_db(transaction=True),
]


class Receiver(LocalServer):
    """A local HTTP endpoint standing in for the outside world n8n talks to (a webhook, a chat, Graph API)."""

    def __init__(self, answer: Callable[[str, str], Any] | None = None) -> None:
        self.hits: list[tuple[str, str, dict[str, str], bytes]] = []
        self.answer = answer or (lambda method, path: {"ok": True})
        receiver = self

        class Handler(QuietHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                receiver.hits.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                payload = json.dumps(receiver.answer(self.command, self.path)).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _serve

        super().__init__(Handler)

    def url(self, path: str) -> str:
        return self.origin + path


@pytest.fixture
def real_n8n(settings, live_server) -> N8nClient:
    """Our app as the live server, with the real n8n as the platform's n8n."""
    # n8n (Node) may resolve "localhost" to ::1, where the live server does not listen.
    public = live_server.url.replace("//localhost:", "//127.0.0.1:")
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "127.0.0.1", "localhost"]
    settings.PUBLIC_BASE_URL = public
    settings.N8N_BASE_URL = BASE_URL
    settings.N8N_API_KEY = API_KEY
    settings.OUTBOUND_HTTP = {**settings.OUTBOUND_HTTP, "timeout": 15.0, "connect_timeout": 2.0}
    return N8nClient(BASE_URL, API_KEY)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


def wait_for(what: str, predicate: Callable[[], Any], timeout: float = ROUND_TRIP_TIMEOUT) -> Any:
    """Polls a real outside system; the only place the suite waits on the clock."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = predicate()
        if result:
            return result
        time.sleep(0.25)
    raise AssertionError(f"gave up after {timeout:.0f}s waiting for {what}")


def finished(execution: CampaignExecution) -> Callable[[], CampaignExecution | None]:
    def check() -> CampaignExecution | None:
        execution.refresh_from_db()
        return execution if execution.is_finished else None

    return check


def answer(url: str) -> None:
    """Clicks an approval link. The chat may get the message before n8n reaches its Wait node,
    and n8n answers 409 "running already" until then."""
    wait_for("n8n to wait for the answer", lambda: requests.get(url, timeout=10).status_code == 200)


def run(campaign) -> CampaignExecution:
    # Autocommit (transactional test): on_commit fires at once and Celery runs eagerly, so the
    # run is handed to n8n before this returns; n8n then calls back the live server.
    return executions.execution_create(campaign=campaign)


def test_it_runs_a_campaign_through_a_real_n8n_and_is_called_back(real_n8n, receiver, alice_workspace):
    workflow = services.workflow_install(
        workspace=alice_workspace, template_key="forward-webhook", params={"forward_url": receiver.url("/first")}
    )
    # Reinstall (PUT on an active workflow, then activate) must leave a working workflow.
    workflow = services.workflow_reinstall(workflow=workflow, params={"forward_url": receiver.url("/forward")})
    assert real_n8n.get_workflow(workflow.n8n_id)["active"] is True
    # Only runs carrying the workspace's token start the workflow.
    assert requests.post(real_n8n.webhook_url(workflow.webhook_path), json={}, timeout=10).status_code == 403
    campaign = CampaignFactory(workspace=alice_workspace, targets=[workflow])
    add_image(campaign)

    execution = wait_for("the callback", finished(run(campaign)))

    assert execution.status == "succeeded", execution.error_message
    assert execution.steps.get(name="publish").detail == "Forwarded to the webhook."
    [(method, path, headers, body)] = [hit for hit in receiver.hits if hit[1] == "/forward"]
    payload = json.loads(body)
    assert payload["execution_uuid"] == str(execution.uuid)
    unsigned = {key: value for key, value in payload.items() if key != "signature"}
    secret = services.connection_ensure(workspace=alice_workspace).callback_secret
    assert payload["signature"] == sign(secret, canonical_json(unsigned))
    assert headers["x-marketing-execution"] == str(execution.uuid)
    # n8n's executions API knows the run by the id its callback reported.
    assert real_n8n.get_execution(execution.outputs["n8n_execution_id"])["status"] == "success"
    rows, errors = selectors.recent_executions(workspace=alice_workspace)
    assert errors == []
    assert [row.execution for row in rows if row.n8n_id == execution.outputs["n8n_execution_id"]] == [execution]


def test_it_continues_an_approval_in_chat_on_the_answer(real_n8n, receiver, alice_workspace):
    workflow = services.workflow_install(
        workspace=alice_workspace, template_key="approval-chat", params={"chat_webhook_url": receiver.url("/chat")}
    )
    campaign = CampaignFactory(workspace=alice_workspace, targets=[workflow])
    add_image(campaign)
    execution = run(campaign)

    message = wait_for("the approval request in chat", lambda: [hit for hit in receiver.hits if hit[1] == "/chat"])
    request = json.loads(message[0][3])
    assert campaign.name in request["text"] and request["approve_url"] in request["text"]
    execution.refresh_from_db()
    assert execution.status == "running"  # waiting for the reviewer, no worker held
    assert "token=" in request["approve_url"]
    answer(request["approve_url"])

    execution = wait_for("the callback after the approval", finished(execution))
    assert execution.status == "succeeded", execution.error_message
    assert execution.steps.get(name="publish").detail == "Approved by the reviewer."


def test_it_does_not_approve_through_a_link_without_the_runs_token(real_n8n, receiver, alice_workspace):
    workflow = services.workflow_install(
        workspace=alice_workspace, template_key="approval-chat", params={"chat_webhook_url": receiver.url("/chat")}
    )
    campaign = CampaignFactory(workspace=alice_workspace, targets=[workflow])
    add_image(campaign)  # a run never publishes a placeholder
    execution = run(campaign)
    message = wait_for("the approval request in chat", lambda: [hit for hit in receiver.hits if hit[1] == "/chat"])
    guessed = json.loads(message[0][3])["approve_url"].split("&token=")[0]
    answer(guessed)

    execution = wait_for("the callback after the guessed answer", finished(execution))
    assert execution.status == "failed"
    assert execution.error_message == "Rejected: the answer link was not valid."


def test_it_reports_the_media_id_of_instagram_publishing_through_n8n(real_n8n, alice_workspace):
    def graph(method: str, path: str) -> dict:
        if "/media_publish" in path:
            return {"id": "17900000000000001"}
        if path.split("?")[0].endswith("/media"):
            return {"id": "container-1"}
        if "/comments" in path:
            return {"id": "comment-1"}
        return {"id": "container-1", "status_code": "FINISHED"}

    with Receiver(graph) as fake_graph:
        workflow = services.workflow_install(
            workspace=alice_workspace,
            template_key="instagram-publish",
            params={"instagram_user_id": "17841400000000", "graph_url": fake_graph.url("/v23.0"), "access_token": "IG-TOKEN"},
        )
        campaign = CampaignFactory(workspace=alice_workspace, targets=[workflow], first_comment="More in bio")
        image = add_image(campaign)
        campaign_images_describe(campaign=campaign, alt_texts={image.pk: "Folded shirts"})

        execution = wait_for("the callback from the Instagram template", finished(run(campaign)))

        assert execution.status == "succeeded", execution.error_message
        assert execution.outputs.get("instagram_media_id") == "17900000000000001"
        paths = [path for _, path, _, _ in fake_graph.hits]
        assert paths[0].startswith("/v23.0/17841400000000/media?")
        assert requests.utils.quote(image.public_url, safe="") in paths[0]
        assert "alt_text=Folded%20shirts" in paths[0] and "media_type" not in paths[0]
        assert all("access_token=IG-TOKEN" in path for path in paths)
        assert any(path.startswith("/v23.0/17900000000000001/comments?message=More%20in%20bio") for path in paths)

        # The same template publishes a story: no caption, no alt text, no comment.
        fake_graph.hits.clear()
        story = CampaignFactory(workspace=alice_workspace, targets=[workflow], format="story", first_comment="More in bio")
        add_image(story)

        execution = wait_for("the callback for the story", finished(run(story)))

        assert execution.status == "succeeded", execution.error_message
        paths = [path for _, path, _, _ in fake_graph.hits]
        assert paths[0].startswith("/v23.0/17841400000000/media?") and "media_type=STORIES" in paths[0]
        assert "caption" not in paths[0] and "alt_text" not in paths[0]
        assert not any("/comments" in path for path in paths)
