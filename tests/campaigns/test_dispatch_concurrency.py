"""Exactly once under concurrency: several dispatchers (beat ticking twice, two workers, a
redelivered task) on PostgreSQL, where row locks and the unique key are real."""

import threading
from datetime import timedelta
from unittest import mock

import pytest
from django.db import connection, connections
from django.utils import timezone

from campaigns import executions, scheduling
from campaigns.models import CampaignExecution, CampaignTarget, ExecutionStep, Schedule
from tests.factories import CampaignFactory, WorkspaceFactory

pytestmark = pytest.mark.skipif(connection.vendor != "postgresql", reason="needs PostgreSQL (DATABASE_URL)")


def _due_schedules(count: int) -> None:
    workspace = WorkspaceFactory()
    past = timezone.now() - timedelta(minutes=1)
    for campaign in CampaignFactory.create_batch(count, workspace=workspace, status="scheduled"):
        Schedule.objects.create(campaign=campaign, kind="once", run_at=past, timezone="UTC", next_run_at=past)


@pytest.mark.django_db(transaction=True)
def test_it_creates_exactly_one_execution_per_planned_time_with_concurrent_dispatchers(settings):
    settings.CELERY_TASK_ALWAYS_EAGER = False  # queueing is not under test here
    _due_schedules(300)
    barrier = threading.Barrier(6)
    counts: list[int] = []
    errors: list[BaseException] = []

    def dispatcher() -> None:
        try:
            barrier.wait()
            counts.append(scheduling.dispatch_due_runs(batch=40))
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connections.close_all()

    with mock.patch.object(executions, "_queue_many"):
        threads = [threading.Thread(target=dispatcher) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)

    assert errors == []
    assert sum(counts) == 300
    assert CampaignExecution.objects.count() == 300
    assert CampaignExecution.objects.values("campaign_id", "planned_for").distinct().count() == 300
    assert not Schedule.objects.filter(next_run_at__isnull=False).exists()


@pytest.mark.django_db
def test_it_gives_dispatched_runs_the_same_steps_as_a_single_run(settings):
    """A dispatch batch writes its steps with COPY; a single run with the ORM: same rows either way."""
    settings.CELERY_TASK_ALWAYS_EAGER = False
    workspace = WorkspaceFactory()
    past = timezone.now() - timedelta(minutes=1)
    campaigns = CampaignFactory.create_batch(3, workspace=workspace, status="scheduled")
    for count, campaign in enumerate(campaigns):
        CampaignTarget.objects.bulk_create(
            CampaignTarget(campaign=campaign, destination="n8n", object_id=100 - n) for n in range(count)
        )
        Schedule.objects.create(campaign=campaign, kind="once", run_at=past, timezone="UTC", next_run_at=past)

    def steps(execution):
        fields = [f.attname for f in ExecutionStep._meta.concrete_fields if f.attname not in ("id", "execution_id")]
        return list(execution.steps.order_by("position").values_list(*fields))

    with mock.patch.object(executions, "_queue_many"):
        assert scheduling.dispatch_due_runs() == 3
        for campaign in campaigns:
            dispatched = campaign.executions.get()
            single = executions.execution_create(campaign=campaign)
            assert steps(dispatched) == steps(single)
        assert [len(steps(campaign.executions.first())) for campaign in campaigns] == [3, 3, 4]
        # Publish steps follow the order the targets were added in.
        assert [s.object_id for s in campaigns[2].executions.first().steps.filter(name="publish")] == [100, 99]
