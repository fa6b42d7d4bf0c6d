"""Exactly once under concurrency: several dispatchers (beat ticking twice, two workers, a
redelivered task) on PostgreSQL, where row locks and the unique key are real."""

import threading
from datetime import timedelta

import pytest
from django.db import connection, connections
from django.utils import timezone

from campaigns import executions, scheduling
from campaigns.models import CampaignExecution, Schedule
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

    from unittest import mock

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
