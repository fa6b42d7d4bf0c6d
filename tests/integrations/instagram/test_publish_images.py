"""A run publishes only real images: never the editor's placeholder, whatever OpenAI does."""

import pytest

from campaigns import executions, services as campaign_services
from campaigns.destinations import RetryLater
from campaigns.models import CampaignExecution, ImageGeneration
from tests.factories import CampaignFactory


@pytest.fixture
def imageless(alice_workspace, account):
    return CampaignFactory(workspace=alice_workspace, targets=[account], brief="Blue bicycles, twenty percent off")


def _start(campaign) -> CampaignExecution:
    return executions.execution_create(campaign=campaign)


def test_it_retries_a_run_with_backoff_while_openai_answers_500_and_publishes_nothing(graph, imageless, fake_openai):
    fake_openai.fail(500, times=10)
    execution = _start(imageless)
    with pytest.raises(RetryLater) as retry:
        executions.execution_run(execution_id=execution.pk)

    assert retry.value.countdown >= 30
    assert not graph.called("create_container") and not graph.called("media_publish")
    assert not imageless.images.exists()
    execution.refresh_from_db()
    assert execution.status == "queued"
    assert "No image could be generated" in execution.error_message
    assert ImageGeneration.objects.get().status == "failed"


def test_it_publishes_the_generated_image_once_openai_is_back(graph, imageless, fake_openai):
    fake_openai.fail(500, times=10)
    execution = _start(imageless)
    with pytest.raises(RetryLater):
        executions.execution_run(execution_id=execution.pk)
    fake_openai._replies.clear()  # OpenAI is back
    executions.execution_run(execution_id=execution.pk)

    execution.refresh_from_db()
    assert execution.status == "succeeded"
    assert list(imageless.images.values_list("source", flat=True)) == ["ai"]
    assert len(graph.called("media_publish")) == 1


def test_it_fails_with_the_reason_when_openai_stays_down(graph, imageless, fake_openai):
    fake_openai.fail(500, times=100)
    execution = _start(imageless)
    for _ in range(executions.MAX_EXECUTION_ATTEMPTS):
        with pytest.raises(RetryLater):
            executions.execution_run(execution_id=execution.pk)
    executions.execution_run(execution_id=execution.pk)

    execution.refresh_from_db()
    assert execution.status == "failed"
    assert "No image could be generated" in execution.error_message
    assert not graph.called("media_publish")


def test_it_never_publishes_the_editors_placeholder(graph, imageless, settings):
    settings.OPENAI_API_KEY = ""
    campaign_services.image_generation_run(
        generation_id=campaign_services.image_generation_request(campaign=imageless, by=None).pk
    )
    assert imageless.images.get().source == "placeholder"

    execution = _start(imageless)
    executions.execution_run(execution_id=execution.pk)

    execution.refresh_from_db()
    assert execution.status == "failed"
    assert "OPENAI_API_KEY" in execution.error_message
    assert not graph.called("create_container")
