"""10,000 campaigns due in the same minute: time until every execution exists and its task is queued.

On PostgreSQL two dispatchers run at once, as when beat ticks twice or two workers pick the task
up: two processes forked for the purpose, each with its own database and broker connection, as
two Celery worker processes would be (threads of one process would share one interpreter lock
that production dispatchers never share). Each must skip the rows the other holds, and no
planned run may get two executions. SQLite, whose throwaway database lives in memory and takes
one writer at a time, runs one.

Uses the broker the settings name (Redis when REDIS_URL is set, else the filesystem transport),
with the run task routed to a queue of the benchmark's own that is deleted afterwards, so no
worker picks the runs up and the developer's queue stays clean.
"""

import multiprocessing
import time
from datetime import timedelta

from django.db import connection as db_connection, connections
from django.db.models import Count
from django.utils import timezone

from bench import Metric, Result, own_queue, reset_broker_pools
from campaigns import scheduling
from campaigns.models import Campaign, CampaignExecution, CampaignStatus, ExecutionStep, Schedule
from campaigns.tasks import run_execution
from marketing.models import User, Workspace
from marketing.services import workspace_create

CAMPAIGNS = 10_000
MAX_SECONDS = 5.0


def _create_due(now) -> Workspace:
    user = User.objects.create_user(email="dispatch@bench.example", password="x")
    workspace = workspace_create(name="Dispatch bench", owner=user)
    campaigns = Campaign.objects.bulk_create(
        Campaign(workspace=workspace, name=f"Due {i}", caption="Due now", status=CampaignStatus.SCHEDULED)
        for i in range(CAMPAIGNS)
    )
    due = now - timedelta(seconds=30)
    Schedule.objects.bulk_create(
        Schedule(campaign=campaign, kind="once", run_at=due, timezone="UTC", next_run_at=due) for campaign in campaigns
    )
    return workspace


def _ready(_: int) -> None:
    time.sleep(0.2)  # holds this worker, so that the pool starts the other one too


def _dispatcher(now) -> int:
    try:
        return scheduling.dispatch_due_runs(now=now)
    finally:
        connections.close_all()  # This process's own connection.


def run(*, requests: int) -> Result:
    result = Result()
    app = run_execution.app
    with own_queue(app, run_execution.name, "bench-dispatch") as queue:
        result.say("broker: Redis" if queue.folder is None else "broker: filesystem (set REDIS_URL to measure with Redis)")
        now = timezone.now()
        started = time.perf_counter()
        workspace = _create_due(now)
        result.say(f"data: {CAMPAIGNS:,} campaigns due at once, made in {time.perf_counter() - started:.1f} s")

        dispatchers = 2 if db_connection.vendor == "postgresql" else 1
        if dispatchers == 1:
            started = time.perf_counter()
            shares = [scheduling.dispatch_due_runs(now=now)]
        else:
            # Forked with no database or broker connection open, so each opens its own.
            connections.close_all()
            reset_broker_pools(app)
            with multiprocessing.get_context("fork").Pool(dispatchers) as pool:
                pool.map(_ready, range(dispatchers))  # both processes up before the clock starts
                started = time.perf_counter()
                shares = pool.map(_dispatcher, [now] * dispatchers, chunksize=1)
        elapsed = time.perf_counter() - started
        dispatched = sum(shares)
        result.say(f"dispatchers at once: {dispatchers}, each dispatched {', '.join(f'{n:,}' for n in shares)}")
        queued = queue.depth(app)
        # Other benchmarks of the same run leave executions of their own in the database.
        ours = CampaignExecution.objects.filter(workspace=workspace)
        executions = ours.count()
        duplicates = (
            ours.values("campaign_id", "planned_for")
            .annotate(n=Count("id"))
            .filter(n__gt=1)
            .count()
        )
        again = scheduling.dispatch_due_runs(now=now)
        result.say(
            f"dispatched {dispatched:,} in {elapsed:.2f} s: {executions:,} executions, "
            f"{ExecutionStep.objects.filter(execution__workspace=workspace).count():,} steps, {queued:,} tasks queued, {duplicates} duplicates; "
            f"a second tick found {again}"
        )
        if executions != CAMPAIGNS or queued != CAMPAIGNS or again:
            raise AssertionError("not every due run got exactly one execution and one queued task")
    result.metrics += [
        Metric("schedule_dispatch_10000", elapsed, "s", MAX_SECONDS, decimals=2),
        Metric("schedule_dispatch_duplicates", duplicates, "duplicates", 0, decimals=0),
    ]
    return result
