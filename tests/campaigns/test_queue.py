"""Posting times and "Add to queue": a campaign scheduled at the workspace's next free posting time."""

import json
from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.test import Client

from campaigns import scheduling, services
from campaigns.models import PostingSlot, Schedule
from marketing.services import api_token_create
from tests.factories import CampaignFactory, add_image

PARIS = ZoneInfo("Europe/Paris")
NOW = datetime(2027, 3, 1, 8, 0, tzinfo=UTC)  # Monday 09:00 in Paris
MON, TUE, WED = 0, 1, 2


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def workspace(alice_workspace):
    alice_workspace.timezone = "Europe/Paris"
    alice_workspace.save()
    return alice_workspace


def campaign(workspace, name="Post"):
    made = CampaignFactory(workspace=workspace, name=name)
    add_image(made)
    return made


def queued_at(made):
    return Schedule.objects.get(campaign=made).run_at.astimezone(PARIS)


def test_it_queues_at_the_next_posting_time_on_the_workspaces_clock(workspace, alice):
    scheduling.posting_slot_add(workspace=workspace, weekdays=[MON, WED], at=time(9, 30))
    first = campaign(workspace)

    moment, _ = scheduling.campaign_queue(campaign=first, by=alice)

    assert moment.astimezone(PARIS) == datetime(2027, 3, 1, 9, 30, tzinfo=PARIS)
    first.refresh_from_db()
    assert first.status == "scheduled"
    assert queued_at(first) == datetime(2027, 3, 1, 9, 30, tzinfo=PARIS)


def test_it_fills_the_posting_times_in_order(workspace, alice):
    scheduling.posting_slot_add(workspace=workspace, weekdays=[MON, WED], at=time(9, 30))
    posts = [campaign(workspace, f"Post {n}") for n in range(4)]

    for post in posts:
        scheduling.campaign_queue(campaign=post, by=alice)

    assert [queued_at(post).strftime("%a %d %H:%M") for post in posts] == [
        "Mon 01 09:30", "Wed 03 09:30", "Mon 08 09:30", "Wed 10 09:30"
    ]


def test_it_skips_a_time_another_campaign_has(workspace, alice):
    scheduling.posting_slot_add(workspace=workspace, weekdays=[TUE], at=time(12, 0))
    other = campaign(workspace, "Planned by hand")
    scheduling.campaign_schedule(
        campaign=other, plan=scheduling.Plan(kind="once", timezone="Europe/Paris", run_at=datetime(2027, 3, 2, 12, 0, tzinfo=PARIS)), by=alice
    )

    moment, _ = scheduling.campaign_queue(campaign=campaign(workspace), by=alice)

    assert moment.astimezone(PARIS) == datetime(2027, 3, 9, 12, 0, tzinfo=PARIS)


def test_it_skips_a_time_that_has_passed_today(workspace, alice):
    scheduling.posting_slot_add(workspace=workspace, weekdays=[MON], at=time(8, 0))

    moment, _ = scheduling.campaign_queue(campaign=campaign(workspace), by=alice)

    assert moment.astimezone(PARIS) == datetime(2027, 3, 8, 8, 0, tzinfo=PARIS)


def test_it_keeps_a_queued_campaigns_own_time_when_queued_again(workspace, alice):
    scheduling.posting_slot_add(workspace=workspace, weekdays=[MON], at=time(9, 30))
    post = campaign(workspace)
    scheduling.campaign_queue(campaign=post, by=alice)

    moment, _ = scheduling.campaign_queue(campaign=post, by=alice)

    assert moment.astimezone(PARIS) == datetime(2027, 3, 1, 9, 30, tzinfo=PARIS)


def test_it_keeps_the_wall_clock_across_the_change_to_summer_time(workspace, alice):
    # Paris moves to summer time on Sunday 28 March 2027.
    scheduling.posting_slot_add(workspace=workspace, weekdays=[MON], at=time(9, 30))
    posts = [campaign(workspace, f"Post {n}") for n in range(6)]

    for post in posts:
        scheduling.campaign_queue(campaign=post, by=alice)

    assert {queued_at(post).strftime("%H:%M") for post in posts} == {"09:30"}
    assert queued_at(posts[-1]).utcoffset().total_seconds() == 7200


def test_it_refuses_to_queue_without_posting_times(workspace, alice):
    with pytest.raises(ValidationError, match="Set the workspace's posting times first"):
        scheduling.campaign_queue(campaign=campaign(workspace), by=alice)


def test_it_says_when_every_time_is_taken(workspace, alice):
    scheduling.posting_slot_add(workspace=workspace, weekdays=[MON], at=time(9, 30))
    # Eight weeks from Monday 09:01 hold nine Mondays at 09:30, today's included.
    for n in range(scheduling.QUEUE_WEEKS + 1):
        scheduling.campaign_queue(campaign=campaign(workspace, f"Post {n}"), by=alice)

    with pytest.raises(ValidationError, match="Every posting time of the next 8 weeks is taken"):
        scheduling.campaign_queue(campaign=campaign(workspace, "One too many"), by=alice)


def test_it_adds_a_time_once_per_day_and_refuses_no_day(workspace):
    scheduling.posting_slot_add(workspace=workspace, weekdays=[MON, TUE], at=time(9, 30, 15))
    scheduling.posting_slot_add(workspace=workspace, weekdays=[TUE, WED], at=time(9, 30))

    assert [str(slot) for slot in scheduling.posting_slots(workspace=workspace)] == ["Monday 09:30", "Tuesday 09:30", "Wednesday 09:30"]
    with pytest.raises(ValidationError):
        scheduling.posting_slot_add(workspace=workspace, weekdays=[], at=time(9, 30))
    with pytest.raises(ValidationError):
        scheduling.posting_slot_add(workspace=workspace, weekdays=[7], at=time(9, 30))


def test_it_queues_the_campaigns_ticked_in_the_list(workspace, alice):
    scheduling.posting_slot_add(workspace=workspace, weekdays=[MON, TUE], at=time(18, 0))
    posts = [campaign(workspace, name) for name in ("A", "B")]

    outcome = services.campaign_bulk_apply(workspace=workspace, ids=[post.pk for post in posts], action="queue", by=alice)

    assert [post.name for post in outcome.done] == ["A", "B"]
    assert [queued_at(post).strftime("%a %H:%M") for post in posts] == ["Mon 18:00", "Tue 18:00"]


# The pages ------------------------------------------------------------------------------------


def test_it_adds_and_removes_posting_times_from_the_page(alice_client, workspace):
    response = alice_client.post("/campaigns/queue/", {"weekdays": ["0", "4"], "time": "09:30"}, follow=True)

    assert "Posting time 09:30 added." in response.text
    assert list(PostingSlot.objects.filter(workspace=workspace).values_list("weekday", "time")) == [(0, time(9, 30)), (4, time(9, 30))]
    assert "The next campaign queued publishes Mon 1 Mar" in response.text
    slot = PostingSlot.objects.get(weekday=4)
    alice_client.post(f"/campaigns/queue/{slot.pk}/delete/")
    assert list(PostingSlot.objects.values_list("weekday", flat=True)) == [0]


@pytest.mark.parametrize(("data", "message"), [({"time": "09:30"}, "Choose at least one day."), ({"weekdays": ["0"], "time": "25:99"}, "Enter a valid time.")])
def test_it_shows_what_is_wrong_with_a_posting_time(alice_client, workspace, data, message):
    response = alice_client.post("/campaigns/queue/", data)

    assert response.status_code == 200
    assert message in response.text
    assert not PostingSlot.objects.exists()


def test_it_queues_from_the_campaign_page(alice_client, workspace):
    scheduling.posting_slot_add(workspace=workspace, weekdays=[WED], at=time(9, 30))
    post = campaign(workspace)

    response = alice_client.post(f"/campaigns/{post.pk}/queue/", follow=True)

    assert "Queued: it publishes" in response.text
    assert queued_at(post) == datetime(2027, 3, 3, 9, 30, tzinfo=PARIS)


def test_it_sends_a_campaign_queued_without_posting_times_to_set_them(alice_client, workspace):
    response = alice_client.post(f"/campaigns/{campaign(workspace).pk}/queue/")

    assert response.status_code == 302
    assert response.url == "/campaigns/queue/"


def test_it_answers_404_for_another_workspaces_slot_or_campaign(client, charlie, workspace):
    slot = scheduling.posting_slot_add(workspace=workspace, weekdays=[MON], at=time(9, 30))[0]
    post = campaign(workspace)
    client.force_login(charlie)

    assert client.post(f"/campaigns/queue/{slot.pk}/delete/").status_code == 404
    assert client.post(f"/campaigns/{post.pk}/queue/").status_code == 404
    assert PostingSlot.objects.filter(pk=slot.pk).exists()
    assert not Schedule.objects.exists()


# The API --------------------------------------------------------------------------------------


@pytest.fixture
def api(alice, workspace):
    return Client(HTTP_AUTHORIZATION=f"Bearer {api_token_create(workspace=workspace, user=alice, name='t')[1]}")


def test_it_queues_through_the_api(api, workspace):
    scheduling.posting_slot_add(workspace=workspace, weekdays=[WED], at=time(9, 30))
    post = campaign(workspace)

    response = api.post(f"/api/v1/campaigns/{post.pk}/queue/")

    assert response.status_code == 200
    assert response.json()["publishes_at"] == "2027-03-03T08:30:00Z"
    assert response.json()["campaign"]["status"] == "scheduled"
    assert Schedule.objects.get(campaign=post).run_at == datetime(2027, 3, 3, 9, 30, tzinfo=PARIS)


def test_it_answers_the_api_400_with_json_without_posting_times_and_404_for_another_workspace(api, workspace, charlie):
    refused = api.post(f"/api/v1/campaigns/{campaign(workspace).pk}/queue/")
    hidden = api.post(f"/api/v1/campaigns/{CampaignFactory(workspace=charlie.memberships.get().workspace).pk}/queue/")

    assert refused.status_code == 400
    assert "Set the workspace's posting times first" in json.dumps(refused.json())
    assert hidden.status_code == 404
    assert hidden["Content-Type"] == "application/problem+json"



def test_it_shows_the_next_free_posting_time_on_the_dashboard(alice_client, workspace):
    before = alice_client.get("/").text
    scheduling.posting_slot_add(workspace=workspace, weekdays=[WED], at=time(9, 30))

    after = alice_client.get("/").text

    assert "next free:" not in before
    assert "next free: Wed 3 Mar 2027" in after


def test_it_shows_the_posting_times_in_the_calendars_week_in_the_viewers_zone(alice_client, alice, workspace):
    alice.timezone = "UTC"
    alice.save()
    scheduling.posting_slot_add(workspace=workspace, weekdays=[WED], at=time(9, 30))

    page = alice_client.get("/calendar/?view=week&date=2027-03-01")

    slots = [slot for _, row in page.context["grid"].hours for slot in row if slot.posting_times]
    assert [(slot.at.strftime("%a %H:%M"), slot.posting_times) for slot in slots] == [("Wed 08:00", ["08:30"])]
    assert '08:30 <span class="muted">posting time</span>' in page.text


# Posting times of one destination ---------------------------------------------------------------


def _account(workspace, username):
    from integrations.instagram.models import InstagramAccount

    return InstagramAccount.objects.create(
        workspace=workspace, ig_user_id=f"1784{abs(hash(username)) % 10**10}", username=username, page_id="1", access_token="t"
    )


def _targeting(workspace, account, name):
    made = campaign(workspace, name)
    services.campaign_update(campaign=made, by=None, targets=[f"instagram:{account.pk}"])
    return made


def test_it_queues_a_campaign_for_one_account_at_that_accounts_own_times(workspace, alice):
    shop, blog = _account(workspace, "shop"), _account(workspace, "blog")
    scheduling.posting_slot_add(workspace=workspace, weekdays=[MON], at=time(9, 30))
    scheduling.posting_slot_add(workspace=workspace, weekdays=[TUE], at=time(18, 0), queue=f"instagram:{shop.pk}")
    to_shop = [_targeting(workspace, shop, f"Shop {n}") for n in range(2)]
    to_blog = _targeting(workspace, blog, "Blog")  # no times of its own: the workspace's

    for made in [*to_shop, to_blog]:
        scheduling.campaign_queue(campaign=made, by=alice)

    assert [queued_at(made) for made in to_shop] == [
        datetime(2027, 3, 2, 18, 0, tzinfo=PARIS),
        datetime(2027, 3, 9, 18, 0, tzinfo=PARIS),
    ]
    assert queued_at(to_blog) == datetime(2027, 3, 1, 9, 30, tzinfo=PARIS)


def test_it_queues_a_campaign_for_two_destinations_at_the_workspaces_times(workspace, alice):
    shop, blog = _account(workspace, "shop"), _account(workspace, "blog")
    scheduling.posting_slot_add(workspace=workspace, weekdays=[WED], at=time(12, 0))
    scheduling.posting_slot_add(workspace=workspace, weekdays=[TUE], at=time(18, 0), queue=f"instagram:{shop.pk}")
    both = campaign(workspace, "Both")
    services.campaign_update(campaign=both, by=None, targets=[f"instagram:{shop.pk}", f"instagram:{blog.pk}"])

    scheduling.campaign_queue(campaign=both, by=alice)

    assert queued_at(both) == datetime(2027, 3, 3, 12, 0, tzinfo=PARIS)


def test_it_refuses_times_for_another_workspaces_destination(workspace, charlie):
    theirs = _account(charlie.memberships.get().workspace, "theirs")

    with pytest.raises(ValidationError):
        scheduling.posting_slot_add(workspace=workspace, weekdays=[MON], at=time(9, 0), queue=f"instagram:{theirs.pk}")

    assert not PostingSlot.objects.exists()


def test_it_shows_and_adds_a_destinations_times_on_the_page_and_404s_another_workspaces(alice_client, workspace, charlie):
    shop = _account(workspace, "shop")
    theirs = _account(charlie.memberships.get().workspace, "theirs")
    page = alice_client.get("/campaigns/queue/").content.decode()
    assert f"?queue=instagram%3A{shop.pk}" in page

    response = alice_client.post("/campaigns/queue/", {"queue": f"instagram:{shop.pk}", "weekdays": [TUE], "time": "18:00"})

    assert response.status_code == 302 and response["Location"] == f"/campaigns/queue/?queue=instagram%3A{shop.pk}"
    slot = PostingSlot.objects.get()
    assert (slot.queue, slot.weekday, slot.time) == (f"instagram:{shop.pk}", TUE, time(18, 0))
    shown = alice_client.get(response["Location"]).content.decode()
    assert "Posting times for @shop" in shown and "own times" in shown
    assert alice_client.get(f"/campaigns/queue/?queue=instagram:{theirs.pk}").status_code == 404
    assert alice_client.post("/campaigns/queue/", {"queue": f"instagram:{theirs.pk}", "weekdays": [MON], "time": "09:00"}).status_code == 404


def test_it_forgets_a_destinations_times_with_it(workspace):
    shop = _account(workspace, "shop")
    scheduling.posting_slot_add(workspace=workspace, weekdays=[MON], at=time(9, 0))
    scheduling.posting_slot_add(workspace=workspace, weekdays=[TUE], at=time(18, 0), queue=f"instagram:{shop.pk}")

    shop.delete()

    assert [slot.queue for slot in PostingSlot.objects.all()] == [""]
