"""The campaign and schedule admin go through the same services as the pages and the API."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.urls import reverse

from campaigns import scheduling
from campaigns.models import Campaign, CampaignExecution, CampaignImage, Schedule
from tests.factories import CampaignFactory, UserFactory, add_image

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


@pytest.fixture
def staff_client(client, db):
    client.force_login(UserFactory(email="staff@example.com", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def campaign(alice_workspace):
    return CampaignFactory(workspace=alice_workspace, name="Spring")


def _messages(response) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def _campaign_form(campaign: Campaign, images: list[CampaignImage] = (), **changes) -> dict:
    data = {
        "workspace": campaign.workspace_id,
        "name": campaign.name,
        "brief": campaign.brief,
        "caption": campaign.caption,
        "hashtags": campaign.hashtags,
        "first_comment": campaign.first_comment,
        "format": campaign.format,
        "targets-TOTAL_FORMS": "0",
        "targets-INITIAL_FORMS": "0",
        "images-TOTAL_FORMS": str(len(images)),
        "images-INITIAL_FORMS": str(len(images)),
        "executions-TOTAL_FORMS": "0",
        "executions-INITIAL_FORMS": "0",
        "status_changes-TOTAL_FORMS": "0",
        "status_changes-INITIAL_FORMS": "0",
    }
    for i, image in enumerate(images):
        data[f"images-{i}-id"] = str(image.pk)
        data[f"images-{i}-campaign"] = str(campaign.pk)
    data.update(changes)
    return data


def _change(client, campaign: Campaign, images=(), **changes):
    return client.post(
        reverse("admin:campaigns_campaign_change", args=[campaign.pk]), _campaign_form(campaign, list(images), **changes)
    )


def test_it_refuses_a_caption_over_instagrams_limit_on_the_form(staff_client, campaign):
    response = _change(staff_client, campaign, caption="x" * 2300)

    assert response.status_code == 200
    assert "Instagram allows 2,200" in response.content.decode()
    # What staff typed is still in the form.
    assert "x" * 2300 in response.content.decode()
    campaign.refresh_from_db()
    assert campaign.caption == "Our linen collection is here."


def test_it_normalises_hashtags_like_the_pages(staff_client, campaign):
    response = _change(staff_client, campaign, hashtags="summer, #Sale sale")

    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.hashtags == "#summer #Sale"


def test_it_keeps_a_campaign_in_its_workspace(staff_client, campaign, charlie):
    charlies = charlie.memberships.get().workspace

    _change(staff_client, campaign, workspace=charlies.pk, name="Moved")

    campaign.refresh_from_db()
    assert campaign.workspace_id != charlies.pk
    assert campaign.name == "Moved"


def test_it_does_not_edit_an_archived_campaign(staff_client, alice_workspace):
    archived = CampaignFactory(workspace=alice_workspace, status="archived", name="Old")

    page = staff_client.get(reverse("admin:campaigns_campaign_change", args=[archived.pk])).content.decode()
    _change(staff_client, archived, name="Renamed")

    assert 'name="name"' not in page
    archived.refresh_from_db()
    assert archived.name == "Old"


def test_it_creates_a_campaign_through_the_service(staff_client, alice_workspace):
    data = _campaign_form(CampaignFactory.build(workspace=alice_workspace, hashtags="a b a"))
    response = staff_client.post(reverse("admin:campaigns_campaign_add"), data)

    assert response.status_code == 302
    assert Campaign.objects.get().hashtags == "#a #b"


def test_it_refuses_to_delete_a_campaign_with_a_run_in_progress(staff_client, campaign):
    CampaignExecution.objects.create(workspace=campaign.workspace, campaign=campaign, status="running")

    response = staff_client.post(
        reverse("admin:campaigns_campaign_delete", args=[campaign.pk]), {"post": "yes"}, follow=True
    )

    assert Campaign.objects.filter(pk=campaign.pk).exists()
    assert any("in progress" in message for message in _messages(response))


def test_it_refuses_a_bulk_delete_with_a_run_in_progress_and_deletes_nothing(staff_client, campaign, alice_workspace):
    idle = CampaignFactory(workspace=alice_workspace, name="Idle")
    CampaignExecution.objects.create(workspace=campaign.workspace, campaign=campaign, status="running")

    response = staff_client.post(
        reverse("admin:campaigns_campaign_changelist"),
        {"action": "delete_selected", "post": "yes", "_selected_action": [campaign.pk, idle.pk]},
        follow=True,
    )

    assert Campaign.objects.count() == 2
    assert any("Nothing was deleted" in message for message in _messages(response))


def test_it_deletes_a_campaigns_image_files_with_it(staff_client, campaign, django_capture_on_commit_callbacks):
    image = add_image(campaign)
    storage, path = image.file.storage, image.file.name

    with django_capture_on_commit_callbacks(execute=True):
        staff_client.post(reverse("admin:campaigns_campaign_delete", args=[campaign.pk]), {"post": "yes"})

    assert not Campaign.objects.exists()
    assert not storage.exists(path)


def test_it_removes_an_image_in_the_inline_through_the_service(staff_client, campaign, django_capture_on_commit_callbacks):
    first, second, third = add_image(campaign), add_image(campaign), add_image(campaign)
    storage, path = first.file.storage, first.file.name

    with django_capture_on_commit_callbacks(execute=True):
        response = _change(staff_client, campaign, [first, second, third], **{"images-0-DELETE": "on"})

    assert response.status_code == 302
    assert list(campaign.images.values_list("pk", "position")) == [(second.pk, 0), (third.pk, 1)]
    assert not storage.exists(path)


@time_machine.travel(NOW, tick=False)
def test_it_unschedules_in_bulk_through_the_service(staff_client, campaign, alice_workspace):
    other = CampaignFactory(workspace=alice_workspace, name="Other")
    for each in (campaign, other):
        scheduling.campaign_schedule(
            campaign=each, plan=scheduling.plan_from_input(kind="recurring", cron="0 9 * * *", timezone="UTC"), by=None
        )

    staff_client.post(
        reverse("admin:campaigns_schedule_changelist"),
        {"action": "delete_selected", "post": "yes", "_selected_action": list(Schedule.objects.values_list("pk", flat=True))},
    )

    assert not Schedule.objects.exists()
    assert set(Campaign.objects.values_list("status", flat=True)) == {"draft"}


@time_machine.travel(NOW, tick=False)
def test_it_reads_admin_times_on_the_schedules_wall_clock(staff_client, campaign):
    staff_client.post(
        reverse("admin:campaigns_schedule_add"),
        {"campaign": campaign.pk, "kind": "once", "run_at": "2026-03-05T09:00", "timezone": "Europe/Berlin"},
    )

    assert Schedule.objects.get().run_at == datetime(2026, 3, 5, 8, 0, tzinfo=UTC)


@time_machine.travel(NOW, tick=False)
def test_it_keeps_the_schedule_form_when_the_service_refuses(staff_client, campaign):
    response = staff_client.post(
        reverse("admin:campaigns_schedule_add"),
        {"campaign": campaign.pk, "kind": "once", "run_at": "2026-03-01T09:00", "timezone": "Europe/Berlin"},
    )

    assert response.status_code == 200
    assert "This time has already passed." in response.content.decode()
    assert 'value="2026-03-01T09:00"' in response.content.decode()
    assert not Schedule.objects.exists()


def test_it_previews_each_image_through_a_link_that_answers(staff_client, campaign):
    image = add_image(campaign)
    page = staff_client.get(reverse("admin:campaigns_campaign_change", args=[campaign.pk])).content.decode()
    url = f"/media/p/{image.token.hex}.jpg"
    assert f'<img class="admin-thumb" src="{url}"' in page
    assert "/media/campaigns/" not in page  # the file field's own link, which nothing serves
    assert staff_client.get(url).status_code == 200
