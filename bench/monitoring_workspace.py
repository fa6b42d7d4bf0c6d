"""A workspace owner's monitoring page (runs, publishes by destination, trigger events) with
100,000 past runs and events in the workspace, against the same with 10,000.

Both workspaces had the same week: RECENT runs (each with its publish step) and RECENT trigger
events spread over the last seven days. They differ only in their history, older than the
page's widest range: what the page shows is the same, and its cost must not grow with what it
does not show. Each range the page offers (hour, day, week) is timed in both, all taking turns.

Run it alone: ``python -m bench.run monitoring_workspace``.
"""

import random
import statistics
import time
import uuid
from datetime import timedelta

from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from bench import BARE_PATH, Metric, Result, count_queries, frozen_timestamps, get_ok, settle_database
from campaigns.models import Campaign, CampaignExecution, ExecutionSource, ExecutionStatus, ExecutionStep, StepStatus
from marketing.models import User, Workspace
from marketing.services import workspace_create
from monitoring.selectors import RANGES, workspace_dashboard
from triggers.models import EventSource, SkipReason, Trigger, TriggerEvent

SMALL_HISTORY = 10_000
LARGE_HISTORY = 100_000
RECENT = 1_000
MAX_LARGE_VS_SMALL = 1.2
BATCH = 5_000
SEED = 20261204


def create_data(*, history: int, email: str, now) -> tuple[User, Workspace]:
    """A workspace whose owner is ``email``: RECENT runs and events in the week before ``now``,
    the same in every workspace, and ``history`` of each between 8 and 90 days old."""
    user = User.objects.create_user(email=email, password="x")
    workspace = workspace_create(name="Monitoring bench", owner=user)
    campaign = Campaign.objects.create(workspace=workspace, name="Weekly linen", caption="New in")
    trigger = Trigger.objects.create(workspace=workspace, name="Orders", kind="conditional")
    rng = random.Random(SEED)
    # (age, the run failed, the event matched); the recent ones first, drawn alike in every workspace.
    runs = [(rng.uniform(60, 7 * 86400), rng.random() < 0.1, rng.random() < 0.05) for _ in range(RECENT)]
    runs += [(rng.uniform(8 * 86400, 90 * 86400), rng.random() < 0.1, rng.random() < 0.05) for _ in range(history)]
    with transaction.atomic(), frozen_timestamps(CampaignExecution, "queued_at"):
        for start in range(0, len(runs), BATCH):
            chunk = runs[start : start + BATCH]
            executions = CampaignExecution.objects.bulk_create(
                [_execution(workspace, campaign, now - timedelta(seconds=age), failed=failed) for age, failed, _ in chunk]
            )
            ExecutionStep.objects.bulk_create([_publish_step(execution) for execution in executions])
            TriggerEvent.objects.bulk_create(
                [_event(workspace, trigger, now - timedelta(seconds=age), matched=matched) for age, _, matched in chunk]
            )
    return user, workspace


def _execution(workspace: Workspace, campaign: Campaign, finished_at, *, failed: bool) -> CampaignExecution:
    return CampaignExecution(
        workspace=workspace,
        campaign=campaign,
        source=ExecutionSource.SCHEDULE,
        status=ExecutionStatus.FAILED if failed else ExecutionStatus.SUCCEEDED,
        queued_at=finished_at - timedelta(seconds=3),
        started_at=finished_at - timedelta(seconds=2),
        finished_at=finished_at,
    )


def _publish_step(execution: CampaignExecution) -> ExecutionStep:
    return ExecutionStep(
        execution=execution,
        position=0,
        name="publish",
        status=StepStatus.FAILED if execution.status == ExecutionStatus.FAILED else StepStatus.SUCCEEDED,
        destination="instagram",
        object_id=1,
        started_at=execution.started_at,
        finished_at=execution.finished_at,
    )


def _event(workspace: Workspace, trigger: Trigger, received_at, *, matched: bool) -> TriggerEvent:
    return TriggerEvent(
        uuid=uuid.uuid4(),
        workspace=workspace,
        trigger=trigger,
        received_at=received_at,
        source=EventSource.EVENT,
        payload={"order": {"total": 12.5}},
        decision={"matched": matched},
        matched=matched,
        skipped_reason="" if matched else SkipReason.NOT_MATCHED,
    )


def _signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    # The first request stores the workspace in the session; later ones only read it.
    get_ok(client, BARE_PATH)
    return client


def run(*, requests: int) -> Result:
    result = Result()
    sizes = {"small": SMALL_HISTORY, "large": LARGE_HISTORY}
    clients, workspaces = {}, {}
    started = time.perf_counter()
    now = timezone.now()
    for size, history in sizes.items():
        user, workspaces[size] = create_data(history=history, email=f"{size}@monitoring.bench", now=now)
        clients[size] = _signed_in(user)
    settle_database()
    result.say(
        f"data: two workspaces with {RECENT:,} runs and events in the last week, and {SMALL_HISTORY:,} and "
        f"{LARGE_HISTORY:,} older ones, in {time.perf_counter() - started:.1f} s"
    )

    page = reverse("monitoring:workspace_dashboard")
    paths = {name: f"{page}?range={name}" for name in RANGES}
    for name in paths:
        shown = {size: _shown(workspace, name) for size, workspace in workspaces.items()}
        if shown["small"] != shown["large"]:
            raise AssertionError(f"range {name}: the two workspaces' pages differ: {shown}")
    queries = {size: count_queries(client, paths["week"]) for size, client in clients.items()}

    samples: dict[tuple[str, str], list[float]] = {(name, size): [] for name in paths for size in clients}
    warmup = 3
    for round_ in range(warmup + requests):
        for name, path in paths.items():
            for size, client in clients.items():
                began = time.perf_counter()
                get_ok(client, path)
                if round_ >= warmup:
                    samples[(name, size)].append((time.perf_counter() - began) * 1000)
    result.say(f"{LARGE_HISTORY:,} against {SMALL_HISTORY:,} past runs and events, medians of {requests} requests each, taking turns:")
    worst = 0.0
    for name in paths:
        small_ms, large_ms = (statistics.median(samples[(name, size)]) for size in clients)
        worst = max(worst, large_ms / small_ms)
        result.say(f"  range {name:5} {small_ms:7.2f} ms -> {large_ms:7.2f} ms   {large_ms / small_ms:.2f} x")
    result.say(f"queries (range week): {queries['small']} and {queries['large']} (info)")

    result.metrics.append(Metric("monitoring_workspace_100k_vs_10k", worst, "x", MAX_LARGE_VS_SMALL, decimals=2))
    return result


def _shown(workspace: Workspace, range_name: str) -> tuple:
    """The counts the page shows for ``range_name``: events, and runs and failures per destination."""
    context = workspace_dashboard(workspace=workspace, range_name=range_name)
    return context["events"], [(row["runs"], row["failed"]) for row in context["destinations"]]
