"""Runs that n8n never calls back: the beat task fails them, saying what n8n knows."""

from datetime import timedelta

import time_machine
from django.utils import timezone

from campaigns.models import CampaignExecution
from integrations.n8n import services, tasks
from tests.factories import CampaignFactory, add_image
from tests.integrations.n8n.conftest import UNREACHABLE_URL, callback_body


def later(minutes: int):
    return time_machine.travel(timezone.now() + timedelta(minutes=minutes), tick=False)


def test_it_fails_a_run_without_a_callback_after_the_timeout(waiting_run):
    with later(61):
        assert tasks.expire_waiting_runs() == 1
    waiting_run.refresh_from_db()
    assert waiting_run.status == "failed"
    assert waiting_run.error_message.startswith("No callback from n8n within 60 minutes.")
    assert waiting_run.steps.get(name="publish").status == "failed"


def test_it_leaves_a_run_alone_before_the_timeout(waiting_run):
    with later(59):
        assert tasks.expire_waiting_runs() == 0
    waiting_run.refresh_from_db()
    assert waiting_run.status == "running"


def test_it_reads_the_timeout_from_a_setting(waiting_run, settings):
    settings.N8N_CALLBACK_TIMEOUT_MINUTES = 10
    with later(11):
        tasks.expire_waiting_runs()
    waiting_run.refresh_from_db()
    assert waiting_run.error_message.startswith("No callback from n8n within 10 minutes.")


def test_it_says_what_n8n_says_about_the_run(waiting_run, alice_workflow, fake_n8n):
    fake_n8n.add_execution(alice_workflow.n8n_id, data={"resultData": {"runData": {}}})  # another run
    found = fake_n8n.add_execution(
        alice_workflow.n8n_id,
        status="error",
        data={
            "resultData": {
                "lastNodeExecuted": "Forward",
                "error": {"message": "getaddrinfo ENOTFOUND hooks.example.com"},
                "runData": {"Webhook": [{"data": {"main": [[{"json": {"body": {"execution_uuid": str(waiting_run.uuid)}}}]]}}]},
            }
        },
    )
    with later(61):
        tasks.expire_waiting_runs()
    waiting_run.refresh_from_db()
    assert f"n8n says execution {found['id']} is “error”, last at node “Forward”: getaddrinfo ENOTFOUND" in waiting_run.error_message
    assert waiting_run.steps.get(name="publish").external_id == found["id"]


def test_it_asks_n8n_by_execution_id_when_it_knows_it(waiting_run, alice_workflow, fake_n8n):
    found = fake_n8n.add_execution(alice_workflow.n8n_id, status="waiting")
    waiting_run.steps.filter(name="publish").update(external_id=found["id"])
    with later(61):
        tasks.expire_waiting_runs()
    waiting_run.refresh_from_db()
    assert f"n8n says execution {found['id']} is “waiting”" in waiting_run.error_message
    assert fake_n8n.requests[-1].path == f"/api/v1/executions/{found['id']}"


def test_it_says_when_n8n_has_no_execution_for_the_run(waiting_run, fake_n8n):
    with later(61):
        tasks.expire_waiting_runs()
    waiting_run.refresh_from_db()
    assert "n8n shows no execution for this run" in waiting_run.error_message


def test_it_still_fails_the_run_when_n8n_cannot_be_asked(waiting_run, settings):
    settings.N8N_BASE_URL = UNREACHABLE_URL
    with later(61):
        tasks.expire_waiting_runs()
    waiting_run.refresh_from_db()
    assert waiting_run.status == "failed"
    assert "n8n could not be asked what happened" in waiting_run.error_message


def test_it_gives_an_approval_run_the_templates_longer_timeout(alice_workspace, fake_n8n, start_run):
    workflow = services.workflow_install(
        workspace=alice_workspace, template_key="approval-chat", params={"chat_webhook_url": "https://chat.example.com/hook"}
    )
    campaign = CampaignFactory(workspace=alice_workspace, targets=[workflow])
    add_image(campaign)
    execution = start_run(campaign)
    with later(61):
        assert tasks.expire_waiting_runs() == 0
    with later(24 * 60 + 31):
        assert tasks.expire_waiting_runs() == 1
    execution.refresh_from_db()
    assert execution.error_message.startswith("No callback from n8n within 1470 minutes.")


def test_it_changes_nothing_on_a_late_callback_after_the_timeout(waiting_run, post_callback):
    with later(61):
        tasks.expire_waiting_runs()
    response = post_callback(waiting_run, callback_body("success"))
    assert response.json() == {"status": "already finished"}
    waiting_run.refresh_from_db()
    assert waiting_run.status == "failed"
