from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import time_machine
from django.core.exceptions import ValidationError

from campaigns import destinations, executions, scheduling, services
from campaigns.models import CampaignExecution, Schedule
from campaigns.scheduling import Plan
from integrations.instagram.models import InstagramAccount
from tests.factories import CampaignFactory, add_image


def target(campaign, obj):
    services.campaign_update(campaign=campaign, by=None, targets=[destinations.key_for(obj)])

NOW = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday


@pytest.fixture(autouse=True)
def frozen():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


@pytest.fixture
def account(alice_workspace):
    return InstagramAccount.objects.create(workspace=alice_workspace, ig_user_id="17841400000000001", username="alice.shop", page_id="1")


@pytest.fixture
def campaign(alice_workspace):
    campaign = CampaignFactory(workspace=alice_workspace, name="Spring")
    add_image(campaign)
    return campaign


def daily(at="0 9 * * *", tz="Europe/Berlin", **kwargs) -> Plan:
    return Plan(kind="recurring", cron=at, timezone=tz, **kwargs)


def once(moment, tz="Europe/Berlin") -> Plan:
    return Plan(kind="once", run_at=moment, timezone=tz)


def test_it_schedules_once_and_marks_the_campaign_scheduled(campaign, alice):
    scheduling.campaign_schedule(campaign=campaign, plan=once(NOW + timedelta(hours=2)), by=alice)
    campaign.refresh_from_db()
    assert campaign.status == "scheduled"
    assert campaign.schedule.next_run_at == NOW + timedelta(hours=2)


def test_it_schedules_a_recurrence_and_marks_the_campaign_scheduled_too(campaign, alice):
    scheduling.campaign_schedule(campaign=campaign, plan=daily(), by=alice)
    campaign.refresh_from_db()
    assert campaign.status == "scheduled"
    assert campaign.schedule.next_run_at == datetime(2026, 3, 2, 8, 0, tzinfo=UTC) + timedelta(days=1)


def test_it_refuses_a_time_in_the_past(campaign, alice):
    with pytest.raises(ValidationError, match="already passed"):
        scheduling.campaign_schedule(campaign=campaign, plan=once(NOW - timedelta(minutes=1)), by=alice)


def test_it_refuses_a_recurrence_without_a_future_run(campaign, alice):
    with pytest.raises(ValidationError, match="no run in the future"):
        scheduling.campaign_schedule(campaign=campaign, plan=daily(ends_at=NOW + timedelta(minutes=5)), by=alice)


def test_it_dispatches_a_due_run_once_even_when_beat_ticks_twice(campaign, alice, frozen, django_capture_on_commit_callbacks):
    scheduling.campaign_schedule(campaign=campaign, plan=once(NOW + timedelta(minutes=10)), by=alice)
    frozen.move_to(NOW + timedelta(minutes=11))
    with django_capture_on_commit_callbacks(execute=True):
        assert scheduling.dispatch_due_runs() == 1
        assert scheduling.dispatch_due_runs() == 0
    execution = CampaignExecution.objects.get()
    assert (execution.source, execution.planned_for, execution.status) == ("schedule", NOW + timedelta(minutes=10), "succeeded")
    campaign.refresh_from_db()
    assert campaign.status == "completed"


def test_it_refuses_a_second_execution_for_the_same_planned_time(campaign):
    planned = NOW + timedelta(hours=1)
    CampaignExecution.objects.create(workspace=campaign.workspace, campaign=campaign, source="schedule", planned_for=planned)
    created = executions.executions_create(
        executions=[CampaignExecution(workspace=campaign.workspace, campaign=campaign, source="schedule", planned_for=planned)]
    )
    assert created == []
    assert CampaignExecution.objects.count() == 1


def _columns(execution):
    return {field.attname: getattr(execution, field.attname) for field in CampaignExecution._meta.concrete_fields}


def test_it_inserts_many_runs_as_bulk_create_would_and_leaves_out_a_second_for_the_same_time(campaign, alice):
    taken = NOW + timedelta(hours=1)
    CampaignExecution.objects.create(workspace=campaign.workspace, campaign=campaign, source="schedule", planned_for=taken)
    new = [
        CampaignExecution(workspace=campaign.workspace, campaign=campaign, source="schedule", planned_for=NOW + timedelta(hours=2)),
        CampaignExecution(workspace=campaign.workspace, campaign=campaign, source="manual", requested_by=alice),
        CampaignExecution(workspace=campaign.workspace, campaign=campaign, source="schedule", planned_for=NOW + timedelta(hours=3)),
    ]

    created = executions.executions_create(executions=new)

    assert created == new and all(execution.pk and not execution._state.adding for execution in created)
    for execution in created:
        stored = CampaignExecution.objects.get(pk=execution.pk)
        assert _columns(stored) == _columns(execution)
        assert (stored.status, stored.attempts, stored.error_message) == ("queued", 0, "")
        assert list(stored.steps.values_list("name", flat=True)) == ["prepare_image", "render_caption", "publish"]
    again = [
        CampaignExecution(workspace=campaign.workspace, campaign=campaign, source="schedule", planned_for=taken),
        CampaignExecution(workspace=campaign.workspace, campaign=campaign, source="schedule", planned_for=NOW + timedelta(hours=4)),
    ]
    assert [execution.planned_for for execution in executions.executions_create(executions=again)] == [NOW + timedelta(hours=4)]
    assert CampaignExecution.objects.count() == 5


def test_it_advances_a_recurrence_and_stops_after_the_maximum_runs(campaign, alice, frozen):
    scheduling.campaign_schedule(campaign=campaign, plan=daily(max_runs=2), by=alice)
    for day in (1, 2, 3):
        frozen.move_to(NOW + timedelta(days=day, hours=1))
        scheduling.dispatch_due_runs()
    planned = list(CampaignExecution.objects.order_by("planned_for").values_list("planned_for", flat=True))
    assert planned == [datetime(2026, 3, 3, 8, tzinfo=UTC), datetime(2026, 3, 4, 8, tzinfo=UTC)]
    schedule = Schedule.objects.get()
    assert (schedule.runs_planned, schedule.next_run_at) == (2, None)


def test_it_skips_runs_while_paused_and_resumes_from_now(campaign, alice, frozen):
    scheduling.campaign_schedule(campaign=campaign, plan=daily(), by=alice)
    scheduling.campaign_pause(campaign=campaign, by=alice)
    frozen.move_to(NOW + timedelta(days=3, hours=2))
    assert scheduling.dispatch_due_runs() == 0
    scheduling.campaign_resume(campaign=campaign, by=alice)
    campaign.refresh_from_db()
    assert campaign.status == "scheduled"
    assert Schedule.objects.get().next_run_at == datetime(2026, 3, 6, 8, tzinfo=UTC)


def test_it_warns_about_another_campaign_publishing_to_the_same_account_too_close(campaign, alice, account, alice_workspace):
    other = CampaignFactory(workspace=alice_workspace, name="Autumn", targets=[account])
    scheduling.campaign_schedule(campaign=other, plan=daily("15 9 * * *"), by=alice)
    target(campaign, account)

    with pytest.raises(ValidationError) as raised:
        scheduling.campaign_schedule(campaign=campaign, plan=daily(), by=alice)
    assert "“Autumn” also publishes to @alice.shop within 30 minutes" in raised.value.messages[0]

    report = scheduling.campaign_schedule(campaign=campaign, plan=daily(), by=alice, accept_warnings=True)
    assert report.warnings


def test_it_does_not_warn_when_runs_are_further_apart_than_the_gap(campaign, alice, account, alice_workspace):
    other = CampaignFactory(workspace=alice_workspace, targets=[account])
    scheduling.campaign_schedule(campaign=other, plan=daily("0 10 * * *"), by=alice)
    target(campaign, account)
    assert scheduling.campaign_schedule(campaign=campaign, plan=daily(), by=alice).warnings == []


def test_it_refuses_runs_over_the_accounts_24_hour_quota(campaign, alice, account):
    account.quota_total = 25
    account.save()
    target(campaign, account)
    with pytest.raises(ValidationError, match="Instagram allows 25"):
        scheduling.campaign_schedule(campaign=campaign, plan=daily("*/30 * * * *"), by=alice)
    assert not Schedule.objects.exists()


def test_it_counts_other_campaigns_towards_the_quota(campaign, alice, account, alice_workspace):
    account.quota_total = 25
    account.save()
    other = CampaignFactory(workspace=alice_workspace, targets=[account])
    scheduling.campaign_schedule(campaign=other, plan=daily("0 */1 * * *"), by=alice, accept_warnings=True)
    target(campaign, account)
    with pytest.raises(ValidationError, match="26 posts would go to @alice.shop"):
        scheduling.campaign_schedule(campaign=campaign, plan=daily("30 12,13 * * *"), by=alice, accept_warnings=True)


def test_it_ignores_other_workspaces_when_looking_for_conflicts(campaign, alice, account, charlie):
    charlies = CampaignFactory(workspace=charlie.memberships.get().workspace)
    scheduling.campaign_schedule(campaign=charlies, plan=daily(), by=charlie)
    target(campaign, account)
    assert scheduling.campaign_schedule(campaign=campaign, plan=daily(), by=alice).warnings == []


def test_it_previews_the_next_five_runs_in_both_zones(alice_client, alice, campaign):
    alice.timezone = "America/New_York"
    alice.save()
    response = alice_client.post(
        f"/campaigns/{campaign.pk}/schedule/preview/",
        {"kind": "recurring", "preset": "weekdays_1230", "timezone": "Europe/Berlin"},
        HTTP_HX_REQUEST="true",
    )
    html = response.content.decode()
    assert "<html" not in html
    assert "Weekdays at 12:30, Berlin time" in html
    for day in ["Mon 2 Mar", "Tue 3 Mar", "Wed 4 Mar", "Thu 5 Mar", "Fri 6 Mar"]:
        assert f"{day} 2026, 12:30, Berlin time" in html
    assert "Mon 2 Mar 2026, 06:30<" in html  # the viewer's own zone is not named
    assert "Sat 7 Mar" not in html


def test_it_explains_a_bad_cron_in_the_preview(alice_client, campaign):
    response = alice_client.post(
        f"/campaigns/{campaign.pk}/schedule/preview/",
        {"kind": "recurring", "preset": "custom", "cron": "61 * * * *", "timezone": "UTC"},
    )
    assert "The minute “61” is not valid: use 0–59" in response.content.decode()


def test_it_shows_a_bad_cron_beside_the_field_in_words(alice_client, campaign):
    response = alice_client.post(
        f"/campaigns/{campaign.pk}/schedule/",
        {"kind": "recurring", "preset": "custom", "cron": "0 9 * * 8", "timezone": "UTC"},
    )
    page = response.content.decode()
    assert '<div class="field-errors" id="id_cron_error"><span>The day of the week “8” is not valid' in page
    assert "out of range" not in page


def test_it_reads_the_forms_time_on_the_chosen_zones_wall_clock(alice_client, campaign):
    response = alice_client.post(
        f"/campaigns/{campaign.pk}/schedule/",
        {"kind": "once", "run_at": "2026-03-29T02:30", "timezone": "Europe/Berlin"},
    )
    assert response.status_code == 302
    # 02:30 does not exist in Berlin that night: it runs at 03:30 CEST, 01:30 UTC.
    assert Schedule.objects.get().run_at == datetime(2026, 3, 29, 1, 30, tzinfo=UTC)


def test_it_shows_the_dst_rule_on_the_form(alice_client, campaign):
    response = alice_client.get(f"/campaigns/{campaign.pk}/schedule/")
    assert b"02:30 runs at 03:30" in response.content


def test_it_shows_planned_and_past_runs_in_the_calendar(alice_client, alice, campaign, alice_workspace, frozen):
    scheduling.campaign_schedule(campaign=campaign, plan=daily(), by=alice)
    frozen.move_to(NOW + timedelta(days=1, hours=1))
    scheduling.dispatch_due_runs()
    response = alice_client.get("/calendar/?view=month&date=2026-03-01")
    grid = response.context["grid"]
    days = {day.day.isoformat(): day.entries for week in grid.weeks for day in week}
    assert [e.kind for e in days["2026-03-03"]] == ["queued"]
    assert [e.kind for e in days["2026-03-04"]] == ["planned"]
    assert days["2026-03-04"][0].campaign == campaign
    assert f'href="/campaigns/{campaign.pk}/"'.encode() in response.content


def test_it_offers_a_new_post_on_each_coming_day_of_the_month(alice_client, alice, frozen):
    # 08:00 UTC on Monday 2 March, the viewer in UTC: today's post goes at 09:00, tomorrow's too.
    response = alice_client.get("/calendar/?view=month&date=2026-03-01")
    days = {day.day.isoformat(): day for week in response.context["grid"].weeks for day in week}
    assert days["2026-03-01"].new_at is None  # over
    assert days["2026-03-02"].new_at == datetime(2026, 3, 2, 9, 0)
    assert b'href="/campaigns/new/?at=2026-03-03T09:00" aria-label="New post on Tuesday 3 March"' in response.content
    assert b'aria-label="New post on Sunday 1 March"' not in response.content
    # The first days of April close the grid's last week, and take a post like any other day.
    assert b'href="/campaigns/new/?at=2026-04-01T09:00" aria-label="New post on Wednesday 1 April"' in response.content
    frozen.move_to(datetime(2026, 3, 2, 15, 20, tzinfo=UTC))
    response = alice_client.get("/calendar/?view=month&date=2026-03-01")
    days = {day.day.isoformat(): day for week in response.context["grid"].weeks for day in week}
    assert days["2026-03-02"].new_at == datetime(2026, 3, 2, 16, 0)  # the next full hour
    frozen.move_to(datetime(2026, 3, 2, 23, 30, tzinfo=UTC))
    response = alice_client.get("/calendar/?view=month&date=2026-03-01")
    days = {day.day.isoformat(): day for week in response.context["grid"].weeks for day in week}
    assert days["2026-03-02"].new_at is None  # no hour left today


def test_it_gives_a_movable_post_a_move_form_in_its_pop_over(alice_client, alice, campaign):
    scheduling.campaign_schedule(campaign=campaign, plan=Plan(kind="once", timezone="UTC", run_at=NOW + timedelta(days=2)), by=alice)
    for view in ("week", "month"):
        response = alice_client.get(f"/calendar/?view={view}&date=2026-03-04")
        assert b'<form class="cal-move"' in response.content
        assert b'name="at" value="2026-03-04T08:00"' in response.content
    response = alice_client.post(
        f"/campaigns/{campaign.pk}/reschedule/", {"at": "2026-03-05T10:45", "view": "month"}, HTTP_HX_REQUEST="true"
    )
    assert "Moved" in response.content.decode()
    campaign.schedule.refresh_from_db()
    assert campaign.schedule.run_at == datetime(2026, 3, 5, 10, 45, tzinfo=UTC)


def test_it_navigates_the_week_view_with_htmx_and_plain_links(alice_client):
    response = alice_client.get("/calendar/?view=week&date=2026-03-04", HTTP_HX_REQUEST="true")
    assert b"<html" not in response.content
    assert b"Week of 2 Mar 2026" in response.content
    assert b'href="?view=week&date=2026-03-09"' in response.content


def test_it_hides_other_workspaces_in_the_calendar(client, charlie, alice, campaign):
    scheduling.campaign_schedule(campaign=campaign, plan=daily(), by=alice)
    client.force_login(charlie)
    response = client.get("/calendar/?date=2026-03-01")
    assert b"Spring" not in response.content


def test_it_does_not_let_charlie_schedule_alices_campaign(client, charlie, campaign):
    client.force_login(charlie)
    assert client.get(f"/campaigns/{campaign.pk}/schedule/").status_code == 404
    assert client.post(f"/campaigns/{campaign.pk}/schedule/pause/").status_code == 404


def test_it_refuses_an_over_quota_schedule_in_the_admin_with_the_same_rule(client, alice, campaign, account):
    alice.is_staff = alice.is_superuser = True
    alice.save()
    account.quota_total = 25
    account.save()
    target(campaign, account)
    client.force_login(alice)
    response = client.post(
        "/admin/campaigns/schedule/add/",
        {"campaign": campaign.pk, "kind": "recurring", "cron": "*/30 * * * *", "timezone": "UTC"},
    )
    assert b"Instagram allows 25" in response.content
    assert not Schedule.objects.exists()


def test_it_saves_a_schedule_in_the_admin_through_the_service(client, alice, campaign):
    alice.is_staff = alice.is_superuser = True
    alice.save()
    client.force_login(alice)
    client.post("/admin/campaigns/schedule/add/", {"campaign": campaign.pk, "kind": "recurring", "cron": "0 9 * * *", "timezone": "UTC"})
    campaign.refresh_from_db()
    assert campaign.status == "scheduled"
    assert campaign.schedule.next_run_at == datetime(2026, 3, 2, 9, tzinfo=UTC)


def test_it_keeps_a_one_time_schedule_when_the_campaign_is_run_now(
    campaign, alice, alice_client, frozen, django_capture_on_commit_callbacks
):
    scheduling.campaign_schedule(campaign=campaign, plan=once(NOW + timedelta(hours=2)), by=alice)
    with django_capture_on_commit_callbacks(execute=True):
        alice_client.post(f"/campaigns/{campaign.pk}/run/")
    campaign.refresh_from_db()
    assert campaign.executions.get().status == "succeeded"
    assert campaign.status == "scheduled"
    frozen.move_to(NOW + timedelta(hours=2))
    with django_capture_on_commit_callbacks(execute=True):
        assert scheduling.dispatch_due_runs() == 1
    campaign.refresh_from_db()
    assert campaign.status == "completed"
    assert campaign.executions.count() == 2


def test_it_shows_no_next_run_where_dispatch_will_not_start_one(campaign, alice, alice_client):
    scheduling.campaign_schedule(campaign=campaign, plan=once(NOW + timedelta(hours=2)), by=alice)
    assert alice_client.get(f"/api/v1/campaigns/{campaign.pk}/").json()["schedule"]["next_run_at"]
    scheduling.campaign_pause(campaign=campaign, by=alice)
    assert alice_client.get(f"/api/v1/campaigns/{campaign.pk}/").json()["schedule"]["next_run_at"] is None
    assert "Next run" not in alice_client.get(f"/campaigns/{campaign.pk}/").content.decode()



def test_it_warns_of_a_conflict_when_moving_a_post_and_moves_it_once_accepted(campaign, alice, alice_client, account, alice_workspace):
    target(campaign, account)
    other = CampaignFactory(workspace=alice_workspace, name="Autumn", targets=[account])
    scheduling.campaign_schedule(campaign=other, plan=once(NOW + timedelta(hours=5)), by=alice)
    scheduling.campaign_schedule(campaign=campaign, plan=once(NOW + timedelta(hours=2)), by=alice)
    url = f"/campaigns/{campaign.pk}/reschedule/"
    slot = (NOW + timedelta(hours=5)).astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M")

    warned = alice_client.post(url, {"at": slot, "view": "week"}, HTTP_HX_REQUEST="true").content.decode()
    assert "also publishes to @alice.shop" in warned and "Move anyway" in warned
    assert Schedule.objects.get(campaign=campaign).run_at == NOW + timedelta(hours=2)

    moved = alice_client.post(url, {"at": slot, "view": "week", "accept_warnings": "1"}, HTTP_HX_REQUEST="true").content.decode()
    assert "Moved “Spring”" in moved and "Undo" in moved
    assert Schedule.objects.get(campaign=campaign).run_at == NOW + timedelta(hours=5)


def test_it_does_not_let_a_recurring_post_be_dragged(campaign, alice, alice_client):
    scheduling.campaign_schedule(campaign=campaign, plan=daily(), by=alice)
    response = alice_client.post(f"/campaigns/{campaign.pk}/reschedule/", {"at": "2026-03-04T10:00"}, HTTP_HX_REQUEST="true")
    assert "Only a post planned once can be moved" in response.content.decode()


def test_it_does_not_move_another_workspaces_post(campaign, alice, charlie, client):
    scheduling.campaign_schedule(campaign=campaign, plan=once(NOW + timedelta(hours=2)), by=alice)
    client.force_login(charlie)
    assert client.post(f"/campaigns/{campaign.pk}/reschedule/", {"at": "2026-03-04T10:00"}).status_code == 404
