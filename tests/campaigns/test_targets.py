"""A campaign with several targets: one publish step each, exactly once each, failures kept apart.

Instagram is the fake Graph API (``responses``), n8n the local fake n8n server.
"""

import re

import pytest
import responses

from campaigns import destinations, executions, services
from campaigns.destinations import RetryLater
from campaigns.models import CampaignExecution, CampaignTarget
from tests.campaigns.test_api import _json, api  # noqa: F401 - a fixture
from tests.factories import CampaignFactory, add_image
from tests.integrations.instagram.conftest import GRAPH_URL, FakeGraph, account, instagram_settings  # noqa: F401 - fixtures
from tests.integrations.n8n.conftest import alice_workflow, callback_body, n8n_settings, post_callback  # noqa: F401 - fixtures
from tests.integrations.n8n.fake_n8n import fake_n8n  # noqa: F401 - a fixture


@pytest.fixture
def graph(fake_n8n):  # noqa: F811
    """The fake Graph API; calls to the fake n8n go through to its server."""
    fake = FakeGraph()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        mock.add_passthru(fake_n8n.base_url)
        for method in ("GET", "POST"):
            mock.add_callback(method, re.compile(re.escape(GRAPH_URL) + r"/.*"), callback=fake)
        yield fake


@pytest.fixture
def campaign(alice_workspace, account, alice_workflow):  # noqa: F811
    campaign = CampaignFactory(workspace=alice_workspace, targets=[account, alice_workflow])
    add_image(campaign)
    return campaign


def run(execution: CampaignExecution) -> CampaignExecution:
    executions.execution_run(execution_id=execution.pk)
    execution.refresh_from_db()
    return execution


def publish_steps(execution: CampaignExecution) -> list[tuple[str, str]]:
    return list(execution.steps.filter(name="publish").values_list("destination", "status"))


def test_it_gives_a_run_one_publish_step_per_target(campaign):
    execution = executions.execution_create(campaign=campaign)
    assert publish_steps(execution) == [("instagram", "pending"), ("n8n", "pending")]


def test_it_publishes_to_instagram_and_n8n_exactly_once_each(graph, fake_n8n, campaign, post_callback):  # noqa: F811
    execution = run(executions.execution_create(campaign=campaign))

    assert publish_steps(execution) == [("instagram", "succeeded"), ("n8n", "waiting")]
    assert execution.status == "running"  # until n8n calls back
    response = post_callback(execution, callback_body("success", "Forwarded.", n8n_execution_id="77"))
    assert response.json() == {"status": "ok", "execution": "succeeded"}
    run(execution)  # a redelivered task finds nothing to do

    assert len(graph.called("media_publish")) == 1
    assert len(fake_n8n.webhook_calls()) == 1
    execution.refresh_from_db()
    assert execution.status == "succeeded"
    assert execution.outputs["instagram_media_id"] == graph.media[0]["id"]
    assert execution.outputs["n8n_execution_id"] == "77"


def test_it_does_not_hand_the_run_to_n8n_again_after_a_transient_instagram_failure(graph, fake_n8n, campaign, post_callback):  # noqa: F811
    graph.fail("create_container", code=2, message="Service temporarily unavailable", transient=True)
    execution = executions.execution_create(campaign=campaign)

    with pytest.raises(RetryLater):
        run(execution)
    execution.refresh_from_db()
    assert publish_steps(execution) == [("instagram", "pending"), ("n8n", "waiting")]
    assert execution.status == "queued"

    run(execution)  # the retry

    assert publish_steps(execution) == [("instagram", "succeeded"), ("n8n", "waiting")]
    assert len(fake_n8n.webhook_calls()) == 1
    assert len(graph.called("media_publish")) == 1
    post_callback(execution, callback_body("success"))
    execution.refresh_from_db()
    assert execution.status == "succeeded"


def test_it_fails_the_run_on_a_final_failure_on_one_target_and_keeps_the_other(graph, fake_n8n, campaign, post_callback):  # noqa: F811
    graph.fail("create_container", code=100, subcode=2207004, message="The image is too large to download")
    execution = run(executions.execution_create(campaign=campaign))
    assert publish_steps(execution) == [("instagram", "failed"), ("n8n", "waiting")]

    post_callback(execution, callback_body("success", "Forwarded."))

    execution.refresh_from_db()
    assert publish_steps(execution) == [("instagram", "failed"), ("n8n", "succeeded")]
    assert (execution.status, execution.error_category) == ("failed", "provider")
    assert "The image is too large to download" in execution.error_message
    assert "Done: Publish to n8n" in execution.error_message
    assert len(fake_n8n.webhook_calls()) == 1


def test_it_neither_undoes_nor_repeats_the_instagram_post_on_an_n8n_failure(graph, fake_n8n, campaign, post_callback):  # noqa: F811
    execution = run(executions.execution_create(campaign=campaign))
    post_callback(execution, callback_body("failure", "The Slack node failed."))
    run(execution)

    execution.refresh_from_db()
    assert publish_steps(execution) == [("instagram", "succeeded"), ("n8n", "failed")]
    assert execution.status == "failed"
    assert execution.error_message.startswith("The Slack node failed.")
    assert len(graph.called("media_publish")) == 1


def test_it_removes_a_target_when_its_account_is_deleted_and_keeps_the_history(graph, campaign, account):  # noqa: F811
    execution = run(executions.execution_create(campaign=campaign))
    account.delete()

    assert list(CampaignTarget.objects.values_list("destination", flat=True)) == ["n8n"]
    step = execution.steps.get(destination="instagram")
    assert (step.status, step.external_id) == ("succeeded", graph.media[0]["id"])


def test_it_saves_several_targets_from_the_form(alice_client, alice_workspace, account, alice_workflow):  # noqa: F811
    form = alice_client.get("/campaigns/new/")
    assert b"@aliceco" in form.content and alice_workflow.name.encode() in form.content

    response = alice_client.post(
        "/campaigns/new/",
        {"name": "Both", "caption": "Hi", "fit": "none", "targets": [f"instagram:{account.pk}", f"n8n:{alice_workflow.pk}"]},
    )

    assert response.status_code == 302
    campaign = alice_workspace.campaigns.get(name="Both")
    assert sorted(t.key for t in campaign.targets.all()) == sorted([f"instagram:{account.pk}", f"n8n:{alice_workflow.pk}"])
    page = alice_client.get(campaign.get_absolute_url())
    assert b"Publishes to" in page.content and b"@aliceco" in page.content


def test_it_keeps_existing_targets_on_the_form_unless_unticked(alice_client, alice_workspace, account, alice_workflow):  # noqa: F811
    campaign = CampaignFactory(workspace=alice_workspace, targets=[account, alice_workflow])
    response = alice_client.post(
        f"/campaigns/{campaign.pk}/edit/", {"name": "Only n8n", "caption": "Hi", "fit": "none", "targets": [f"n8n:{alice_workflow.pk}"]}
    )
    assert response.status_code == 302
    assert [t.destination for t in campaign.targets.all()] == ["n8n"]


def test_it_refuses_a_second_n8n_workflow(alice_workspace, alice_workflow):  # noqa: F811
    campaign = CampaignFactory(workspace=alice_workspace)
    with pytest.raises(Exception, match="at most 1 n8n workflows"):
        services.campaign_update(campaign=campaign, by=None, targets=[f"n8n:{alice_workflow.pk}", "n8n:999999"])


def test_it_reads_and_replaces_targets_through_the_api(api, account, alice_workflow):  # noqa: F811
    status, body = _json(api, "post", "/api/v1/campaigns/", {"name": "API", "targets": [f"instagram:{account.pk}"]})
    assert (status, body["targets"]) == (201, [f"instagram:{account.pk}"])

    path = f"/api/v1/campaigns/{body['id']}/"
    assert _json(api, "patch", path, {"targets": [f"n8n:{alice_workflow.pk}"]})[1]["targets"] == [f"n8n:{alice_workflow.pk}"]
    assert _json(api, "patch", path, {"caption": "New"})[1]["targets"] == [f"n8n:{alice_workflow.pk}"]


def test_it_answers_400_in_the_api_for_an_unknown_or_foreign_target(api, charlie):
    charlies = CampaignFactory(workspace=charlie.memberships.get().workspace)
    for key in ("wordpress:1", "instagram:abc", "instagram:999999", "nonsense", f"n8n:{charlies.pk}"):
        status, body = _json(api, "post", "/api/v1/campaigns/", {"name": "Bad", "targets": [key]})
        assert (status, "targets" in body["errors"]) == (400, True), (key, body)
    assert not CampaignTarget.objects.exists()


def test_it_names_both_integrations_in_the_registry():
    assert {d.key for d in destinations.registered()} >= {"instagram", "n8n"}
