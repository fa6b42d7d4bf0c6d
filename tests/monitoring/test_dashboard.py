"""The staff dashboard and the owners' smaller one."""

import random
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from monitoring import recorder
from monitoring.models import Rollup
from tests.factories import UserFactory


@pytest.fixture
def staff_client(client, db):
    client.force_login(UserFactory(is_staff=True))
    return client


def test_it_renders_with_no_data(staff_client):
    for range_name in ("hour", "day", "week"):
        response = staff_client.get(f"/monitoring/?range={range_name}")
        assert response.status_code == 200
        assert b"No requests recorded in this range" in response.content


def _a_week_of_rollups() -> None:
    rng = random.Random(7)
    now = timezone.now().replace(second=0, microsecond=0)
    rows = []
    for hours_ago in range(7 * 24):
        bucket = now.replace(minute=0) - timedelta(hours=hours_ago)
        for series, key in (("request", "GET campaign_list"), ("task", "campaigns.tasks.execute_campaign"),
                            ("provider", "instagram"), ("publish", "Instagram @shop"), ("error", "request")):
            count = rng.randint(50, 500)
            rows.append(Rollup(series=series, key=key, resolution="h", bucket=bucket, count=count,
                               failures=count // 20, total_ms=count * 80.0, h2=count // 2, h3=count - count // 2))
        rows.append(Rollup(series="queue_depth", key="celery", resolution="h", bucket=bucket, value=rng.randint(0, 40)))
        rows.append(Rollup(series="scheduler_lag", key="", resolution="h", bucket=bucket, value=rng.randint(0, 90)))
    for minutes_ago in range(60):
        bucket = now - timedelta(minutes=minutes_ago)
        rows.append(Rollup(series="request", key="GET campaign_list", resolution="m", bucket=bucket, count=10, h4=10, total_ms=2000))
    Rollup.objects.bulk_create(rows)


def test_it_renders_a_week_of_data_with_axes_units_and_hover_values(staff_client):
    _a_week_of_rollups()
    response = staff_client.get("/monitoring/?range=week")
    assert response.status_code == 200
    content = response.content.decode()
    assert "GET campaign_list" in content
    assert "Instagram @shop" in content
    assert content.count("<svg") >= 7
    request_chart = response.context["charts_requests"][0]
    assert request_chart.has_data and request_chart.unit == "req/min"
    assert len(request_chart.columns) == 7 * 24
    assert "all:" in request_chart.columns[-1][2]  # the hover text lists each series' value
    assert [row.key for row in response.context["routes"]] == ["GET campaign_list"]
    assert response.context["routes"][0].p95 is not None


def test_it_reads_minute_rollups_for_the_last_hour(staff_client):
    _a_week_of_rollups()
    response = staff_client.get("/monitoring/?range=hour")
    route = response.context["routes"][0]
    assert route.count == 600
    assert 100 < route.p50 <= 250  # every request fell in the 100-250 ms bucket


def test_it_counts_requests_into_rollups_in_the_middleware(staff_client):
    staff_client.get("/monitoring/?range=hour")
    recorder.flush()
    assert Rollup.objects.filter(series="request", key="GET monitoring:dashboard", resolution="m").get().count == 1


def test_it_gives_htmx_only_the_body(staff_client):
    response = staff_client.get("/monitoring/?range=day", HTTP_HX_REQUEST="true")
    assert b"<html" not in response.content
    assert b"Requests per minute" in response.content


def test_it_keeps_the_dashboard_for_staff_only(alice_client):
    assert alice_client.get("/monitoring/").status_code == 302


def test_it_shows_an_owner_the_workspace_dashboard(alice_client):
    response = alice_client.get("/monitoring/workspace/")
    assert response.status_code == 200
    assert b"Finished runs" in response.content


def test_it_refuses_a_member_the_workspace_dashboard(client, bob):
    client.force_login(bob)
    assert client.get("/monitoring/workspace/").status_code == 403


def test_it_shows_an_owner_their_own_runs_destinations_events_and_errors(alice_client, alice_workspace):
    from campaigns.models import CampaignExecution, ExecutionSource, ExecutionStatus, ExecutionStep, StepStatus
    from integrations.instagram.models import InstagramAccount
    from monitoring.models import ErrorGroup
    from tests.factories import CampaignFactory, WorkspaceFactory
    from triggers.models import Trigger, TriggerEvent

    now = timezone.now()
    other = WorkspaceFactory(name="Other Co")
    ours = InstagramAccount.objects.create(workspace=alice_workspace, ig_user_id="1", username="shop", page_id="2")
    theirs = InstagramAccount.objects.create(workspace=other, ig_user_id="3", username="rival", page_id="4")

    def run(workspace, account, status):
        execution = CampaignExecution.objects.create(
            workspace=workspace, campaign=CampaignFactory(workspace=workspace), source=ExecutionSource.MANUAL,
            status=status, finished_at=now - timedelta(minutes=30),
        )
        step_status = StepStatus.SUCCEEDED if status == ExecutionStatus.SUCCEEDED else StepStatus.FAILED
        ExecutionStep.objects.create(execution=execution, position=1, name="publish", status=step_status,
                                     destination="instagram", object_id=account.pk, finished_at=execution.finished_at)

    for status in (ExecutionStatus.SUCCEEDED, ExecutionStatus.SUCCEEDED, ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED):
        run(alice_workspace, ours, status)
    run(other, theirs, ExecutionStatus.FAILED)
    trigger = Trigger.objects.create(workspace=alice_workspace, name="Orders")
    TriggerEvent.objects.create(workspace=alice_workspace, trigger=trigger, source="webhook", matched=True)
    TriggerEvent.objects.create(workspace=alice_workspace, trigger=trigger, source="webhook", matched=False)
    touched = ErrorGroup.objects.create(fingerprint="a", title="KeyError in our publish", category="task", last_seen=now)
    touched.workspaces.add(alice_workspace)
    ErrorGroup.objects.create(fingerprint="b", title="Someone else's failure", category="task", last_seen=now).workspaces.add(other)

    response = alice_client.get("/monitoring/workspace/?range=day")

    assert response.status_code == 200
    assert response.context["destinations"] == [
        {"destination": "Instagram @shop", "runs": 4, "failed": 1, "success_rate": 75.0},
    ]
    chart = response.context["runs_chart"]
    assert chart.has_data
    tooltips = [tooltip for _, _, tooltip in chart.columns]
    assert sum("succeeded: 3 runs\nfailed: 1 runs" in t for t in tooltips) == 1  # the other workspace's run is not counted
    assert response.context["events"] == {"matched_count": 1, "not_matched_count": 1}
    content = response.content.decode()
    assert "KeyError in our publish" in content
    assert "Someone else" not in content
    assert "@rival" not in content



def test_it_counts_publishes_per_destination_across_chunks_and_in_runs_still_going(alice_client, alice_workspace, monkeypatch):
    from campaigns.models import CampaignExecution, ExecutionSource, ExecutionStatus, ExecutionStep, StepStatus
    from integrations.instagram.models import InstagramAccount
    from monitoring import selectors
    from tests.factories import CampaignFactory

    monkeypatch.setattr(selectors, "STEP_READ_CHUNK", 2)
    now = timezone.now()
    shop = InstagramAccount.objects.create(workspace=alice_workspace, ig_user_id="1", username="shop", page_id="2")
    outlet = InstagramAccount.objects.create(workspace=alice_workspace, ig_user_id="3", username="outlet", page_id="4")
    campaign = CampaignFactory(workspace=alice_workspace)

    def run(*, finished_ago, steps):
        execution = CampaignExecution.objects.create(
            workspace=alice_workspace, campaign=campaign, source=ExecutionSource.SCHEDULE,
            status=ExecutionStatus.RUNNING if finished_ago is None else ExecutionStatus.SUCCEEDED,
            finished_at=None if finished_ago is None else now - finished_ago,
        )
        for position, (account, status, step_ago) in enumerate(steps):
            ExecutionStep.objects.create(execution=execution, position=position, name="publish", status=status,
                                         destination="instagram", object_id=account.pk, finished_at=now - step_ago)

    minutes = timedelta(minutes=1)
    for _ in range(3):
        run(finished_ago=minutes, steps=[(shop, StepStatus.SUCCEEDED, 2 * minutes), (outlet, StepStatus.FAILED, 2 * minutes)])
    # Still publishing to the outlet; its step for the shop is done.
    run(finished_ago=None, steps=[(shop, StepStatus.SUCCEEDED, minutes)])
    # Before the range: not counted.
    run(finished_ago=timedelta(days=2), steps=[(outlet, StepStatus.SUCCEEDED, timedelta(days=2))])

    response = alice_client.get("/monitoring/workspace/?range=day")

    assert response.context["destinations"] == [
        {"destination": "Instagram @shop", "runs": 4, "failed": 0, "success_rate": 100.0},
        {"destination": "Instagram @outlet", "runs": 3, "failed": 3, "success_rate": 0.0},
    ]

# WhiteNoise serves from the apps' static folders, as under `make run`, instead of STATIC_ROOT.
@override_settings(WHITENOISE_USE_FINDERS=True, WHITENOISE_AUTOREFRESH=True)
def test_it_counts_static_files_apart_from_requests_no_url_takes(client, db):
    assert client.get("/static/css/monitoring.css").status_code == 200
    assert client.get("/no-such-page/").status_code in (302, 404)
    recorder.flush()
    counted = dict(Rollup.objects.filter(series="request", resolution="m").values_list("key", "count"))
    assert counted == {"GET <static>": 1, "GET <unmatched>": 1}
