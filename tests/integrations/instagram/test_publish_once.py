"""Never publish twice: two clicks, two API calls or a retried request start one run, enforced by the database."""

import threading
from unittest import mock

import pytest
from django.db import connection, connections
from django.test import Client

from campaigns import executions
from campaigns.models import CampaignExecution
from marketing.models import IdempotencyKey
from marketing.services import api_token_create


@pytest.fixture
def token(alice, alice_workspace) -> str:
    return api_token_create(workspace=alice_workspace, user=alice, name="tests")[1]


def _run_queued() -> None:
    for execution_id in CampaignExecution.objects.filter(status="queued").values_list("pk", flat=True):
        executions.execution_run(execution_id=execution_id)


@pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL)")
@pytest.mark.django_db(transaction=True)
def test_it_publishes_once_for_ten_concurrent_run_requests(graph, campaign, token, settings):
    barrier = threading.Barrier(10)
    statuses: list[int] = []

    def request() -> None:
        try:
            client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
            barrier.wait()
            statuses.append(client.post(f"/api/v1/campaigns/{campaign.pk}/run/").status_code)
        finally:
            connections.close_all()

    # The runs are executed below, after every request has answered: a run that finished fast
    # would otherwise let a later request start a second, legitimate run.
    with mock.patch.object(executions, "_queue_many"):
        threads = [threading.Thread(target=request) for _ in range(10)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    _run_queued()

    assert sorted(statuses) == [202] + [409] * 9
    assert CampaignExecution.objects.count() == 1
    assert len(graph.called("media_publish")) == 1


def test_it_answers_409_with_the_run_in_progress(campaign, token, settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    with mock.patch.object(executions, "_queue_many"):
        first = client.post(f"/api/v1/campaigns/{campaign.pk}/run/")
        second = client.post(f"/api/v1/campaigns/{campaign.pk}/run/")
    assert first.status_code == 202
    assert second.status_code == 409
    assert second.json()["execution"] == first.json()["id"]


def test_it_starts_a_new_manual_run_once_the_last_one_finished(graph, campaign, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        first = executions.execution_create(campaign=campaign)
    first.refresh_from_db()
    assert first.status == "succeeded"
    second = executions.execution_create(campaign=campaign)
    assert second.pk != first.pk


def test_it_lets_a_trigger_run_alongside_a_manual_one(campaign):
    with mock.patch.object(executions, "_queue_many"):
        executions.execution_create(campaign=campaign)
        executions.execution_create(campaign=campaign, source="trigger")
        with pytest.raises(executions.RunInProgress):
            executions.execution_create(campaign=campaign, source="api")
    assert CampaignExecution.objects.count() == 2


def test_it_replays_the_first_answer_for_a_repeated_idempotency_key(graph, campaign, token, django_capture_on_commit_callbacks):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_IDEMPOTENCY_KEY="run-7f3a")
    with django_capture_on_commit_callbacks(execute=True):
        first = client.post(f"/api/v1/campaigns/{campaign.pk}/run/")
    # The first run has finished by now, so without the key this would start a second one.
    again = client.post(f"/api/v1/campaigns/{campaign.pk}/run/")
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert CampaignExecution.objects.count() == 1
    assert len(graph.called("media_publish")) == 1


def test_it_refuses_a_key_reused_for_another_request(campaign, token, alice_workspace):
    from tests.factories import CampaignFactory

    other = CampaignFactory(workspace=alice_workspace)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_IDEMPOTENCY_KEY="same-key")
    with mock.patch.object(executions, "_queue_many"):
        assert client.post(f"/api/v1/campaigns/{campaign.pk}/run/").status_code == 202
        answer = client.post(f"/api/v1/campaigns/{other.pk}/run/")
    assert answer.status_code == 422
    assert not other.executions.exists()


def test_it_forgets_the_key_when_the_request_failed(campaign, token):
    client = Client(HTTP_AUTHORIZATION=f"Bearer {token}", HTTP_IDEMPOTENCY_KEY="k1")
    with mock.patch.object(executions, "_queue_many"):
        executions.execution_create(campaign=campaign)
        assert client.post(f"/api/v1/campaigns/{campaign.pk}/run/").status_code == 409
    assert not IdempotencyKey.objects.exists()


def test_it_queues_one_run_for_a_double_submitted_run_now_form(graph, campaign, alice_client, django_capture_on_commit_callbacks):
    page = alice_client.get(campaign.get_absolute_url())
    key = page.context["run_key"]
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            response = alice_client.post(f"/campaigns/{campaign.pk}/run/", {"idempotency_key": key}, follow=True)
    assert CampaignExecution.objects.count() == 1
    assert "already queued" in response.content.decode()
    assert len(graph.called("media_publish")) == 1
