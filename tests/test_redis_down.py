"""With Redis unreachable, the main flows answer as usual (or a clear 503), nothing is lost, and the
work waiting in the outbox starts once the broker is back."""

import json

import pytest
from django.core import mail
from django.test import Client
from django.urls import reverse

from campaigns.models import CampaignExecution, ImageGeneration
from marketing.models import Invitation, OutboxTask
from marketing.outbox import drain
from marketing.services import api_token_create
from tests.factories import CampaignFactory, add_image
from triggers import services as trigger_services


@pytest.fixture
def campaign(alice_workspace):
    campaign = CampaignFactory(workspace=alice_workspace)
    add_image(campaign)
    return campaign


@pytest.fixture
def api(alice, alice_workspace):
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(workspace=alice_workspace, user=alice, name='t')[1]}")


def _trigger(workspace, campaign, kind: str):
    return trigger_services.trigger_create(workspace=workspace, by=None, name=f"T {kind}", kind=kind, campaigns=[campaign])


def test_it_answers_run_now_as_usual_and_starts_the_run_when_the_broker_is_back(
    redis_down, alice_client, campaign, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(f"/campaigns/{campaign.pk}/run/", follow=True)
    assert response.status_code == 200 and b"Run queued" in response.content
    execution = CampaignExecution.objects.get()
    assert execution.status == "queued"
    assert list(OutboxTask.objects.values_list("task", "args")) == [("campaigns.tasks.run_execution", [execution.pk])]


def test_it_sends_what_waited_in_the_outbox_once_the_broker_is_back(redis_down, alice_client, campaign, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(f"/campaigns/{campaign.pk}/run/")
    assert drain() == 0  # still down: kept
    assert OutboxTask.objects.count() == 1


def test_it_drains_the_outbox_when_the_broker_answers(alice_client, campaign):
    execution = CampaignExecution.objects.create(workspace=campaign.workspace, campaign=campaign, source="manual")
    OutboxTask.objects.create(task="campaigns.tasks.run_execution", args=[execution.pk])
    assert drain() == 1  # runs inline here (eager), as a worker would
    execution.refresh_from_db()
    assert execution.status != "queued" and not OutboxTask.objects.exists()


@pytest.mark.parametrize("kind", ["api_run", "api_fire", "page_fire", "webhook"])
def test_it_answers_starting_work_without_a_500(redis_down, kind, api, alice_client, alice_workspace, campaign, client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        if kind == "api_run":
            response = api.post(f"/api/v1/campaigns/{campaign.pk}/run/")
        elif kind == "api_fire":
            response = api.post(f"/api/v1/triggers/{_trigger(alice_workspace, campaign, 'manual').pk}/fire/")
        elif kind == "page_fire":
            response = alice_client.post(f"/triggers/{_trigger(alice_workspace, campaign, 'manual').pk}/fire/")
        else:
            trigger = _trigger(alice_workspace, campaign, "event")
            response = client.post(f"/hooks/triggers/{trigger.token}/", data=json.dumps({"a": 1}), content_type="application/json")
    assert response.status_code in (202, 302)
    assert CampaignExecution.objects.get().status == "queued"
    assert OutboxTask.objects.count() == 1


@pytest.mark.parametrize("path", ["/api/v1/campaigns/", "/api/docs/", "/api/schema/"])
def test_it_answers_the_api_with_its_throttle_failing_open(redis_down, api, path):
    assert api.get(path).status_code == 200


def test_it_shows_the_form_error_for_a_wrong_password_login(redis_down, client, alice):
    response = client.post(reverse("account_login"), {"login": alice.email, "password": "wrong"})
    assert response.status_code == 200
    assert response.context["form"].errors


def test_it_sends_the_password_reset_email(redis_down, client, alice):
    response = client.post(reverse("account_reset_password"), {"email": alice.email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1


def test_it_saves_an_invitation_and_keeps_its_email_waiting_in_the_outbox(redis_down, alice_client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(reverse("invitation_create"), {"email": "frank@example.com", "role": "member"})
    assert response.status_code == 302
    assert Invitation.objects.filter(email="frank@example.com").exists()
    assert OutboxTask.objects.get().task == "marketing.tasks.send_invitation_email"


def test_it_keeps_an_image_generation_waiting_in_the_outbox(redis_down, alice_client, campaign, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(f"/campaigns/{campaign.pk}/generate/")
    assert response.status_code in (200, 302)
    generation = ImageGeneration.objects.get()
    assert generation.status == "queued"
    assert OutboxTask.objects.get().args == [generation.pk]


def test_it_reports_the_cache_down_in_readyz_instead_of_failing(redis_down, client, db):
    response = client.get("/readyz")
    assert response.status_code == 503
    assert "cache" in response.json()["checks"]
