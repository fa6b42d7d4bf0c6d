"""Reads for the monitoring pages: error groups, health history, and the dashboard's rollups."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Count, Q, QuerySet
from django.utils import timezone

from . import charts, live
from .models import LATENCY_BOUNDS_MS, ErrorGroup, GroupStatus, HealthSample, Rollup

# range name -> (span, rollup resolution, bucket width)
RANGES: dict[str, tuple[timedelta, str, timedelta]] = {
    "hour": (timedelta(hours=1), "m", timedelta(minutes=1)),
    "day": (timedelta(days=1), "h", timedelta(hours=1)),
    "week": (timedelta(days=7), "h", timedelta(hours=1)),
}
LABEL_FORMATS = {"hour": "%H:%M", "day": "%H:%M", "week": "%a %d"}


def error_group_list(*, status: str = "", category: str = "") -> QuerySet[ErrorGroup]:
    groups = ErrorGroup.objects.all()
    if status in GroupStatus.values:
        groups = groups.filter(status=status)
    if category:
        groups = groups.filter(category=category)
    return groups.order_by("-last_seen")


def error_categories() -> list[str]:
    return list(ErrorGroup.objects.order_by("category").values_list("category", flat=True).distinct())


def health_history(*, hours: int = 24) -> list[dict]:
    """Per check: its samples over the last ``hours``, oldest first, for a strip of ok/failing marks."""
    since = timezone.now() - timedelta(hours=hours)
    by_check: dict[str, list[HealthSample]] = defaultdict(list)
    for sample in HealthSample.objects.filter(at__gte=since).order_by("at"):
        by_check[sample.name].append(sample)
    return [
        {
            "name": name,
            "samples": samples,
            "failures": sum(1 for s in samples if not s.ok),
            "uptime": round(100 * sum(1 for s in samples if s.ok) / len(samples), 2) if samples else None,
        }
        for name, samples in sorted(by_check.items())
    ]


# Rollups ----------------------------------------------------------------------------------------


@dataclass
class Agg:
    """Counts and a latency histogram summed over some rollup rows."""

    count: float = 0
    failures: float = 0
    total_ms: float = 0
    hist: list[float] | None = None
    value: float | None = None

    def add(self, row: Rollup) -> None:
        self.count += row.count
        self.failures += row.failures
        self.total_ms += row.total_ms
        self.hist = [a + b for a, b in zip(self.hist or [0] * 10, row.histogram)]
        if row.value is not None:
            self.value = row.value if self.value is None else max(self.value, row.value)

    def percentile(self, share: float) -> float | None:
        """From the histogram, interpolating inside the bucket (the last one is taken to end at 2x)."""
        if not self.hist or not sum(self.hist):
            return None
        target = share * sum(self.hist)
        seen = 0.0
        bounds = [0, *LATENCY_BOUNDS_MS, LATENCY_BOUNDS_MS[-1] * 2]
        for index, amount in enumerate(self.hist):
            if amount and seen + amount >= target:
                low, high = bounds[index], bounds[index + 1]
                return low + (high - low) * (target - seen) / amount
            seen += amount
        return float(bounds[-1])

    @property
    def failure_rate(self) -> float | None:
        return 100 * self.failures / self.count if self.count else None

    @property
    def mean_ms(self) -> float | None:
        timed = sum(self.hist or [])
        return self.total_ms / timed if timed else None


def _window(range_name: str, now: datetime | None = None) -> tuple[list[datetime], str, timedelta]:
    span, resolution, width = RANGES.get(range_name, RANGES["hour"])
    now = now or timezone.now()
    end = now.replace(second=0, microsecond=0)
    if resolution == "h":
        end = end.replace(minute=0)
    count = int(span / width)
    buckets = [end - width * (count - 1 - index) for index in range(count)]
    return buckets, resolution, width


def rollups(series: str, range_name: str, *, keys: list[str] | None = None) -> tuple[list[datetime], dict[str, dict[datetime, Agg]]]:
    """Per key, per bucket: the summed rows of ``series`` over the range."""
    buckets, resolution, _ = _window(range_name)
    rows = Rollup.objects.filter(series=series, resolution=resolution, bucket__gte=buckets[0], bucket__lte=buckets[-1])
    if keys is not None:
        rows = rows.filter(key__in=keys)
    out: dict[str, dict[datetime, Agg]] = defaultdict(lambda: defaultdict(Agg))
    for row in rows:
        out[row.key][row.bucket].add(row)
    return buckets, out


def _totals(per_key: dict[str, dict[datetime, Agg]]) -> dict[str, Agg]:
    totals: dict[str, Agg] = {}
    for key, by_bucket in per_key.items():
        agg = totals[key] = Agg()
        for bucket_agg in by_bucket.values():
            agg.count += bucket_agg.count
            agg.failures += bucket_agg.failures
            agg.total_ms += bucket_agg.total_ms
            agg.hist = [a + b for a, b in zip(agg.hist or [0] * 10, bucket_agg.hist or [0] * 10)]
            if bucket_agg.value is not None:
                agg.value = bucket_agg.value if agg.value is None else max(agg.value, bucket_agg.value)
    return totals


def _merge_buckets(per_key: dict[str, dict[datetime, Agg]], buckets: list[datetime]) -> list[Agg]:
    merged = [Agg() for _ in buckets]
    index = {bucket: i for i, bucket in enumerate(buckets)}
    for by_bucket in per_key.values():
        for bucket, agg in by_bucket.items():
            target = merged[index[bucket]] if bucket in index else None
            if target is None:
                continue
            target.count += agg.count
            target.failures += agg.failures
            target.total_ms += agg.total_ms
            target.hist = [a + b for a, b in zip(target.hist or [0] * 10, agg.hist or [0] * 10)]
    return merged


def _per_minute(count: float, width: timedelta) -> float:
    return count / (width.total_seconds() / 60)


@dataclass
class KeyRow:
    key: str
    count: int
    per_minute: float
    p50: float | None
    p95: float | None
    p99: float | None
    failure_rate: float | None
    extra: str = ""


def _key_rows(totals: dict[str, Agg], span: timedelta, limit: int = 15) -> list[KeyRow]:
    minutes = span.total_seconds() / 60
    ordered = sorted(totals.items(), key=lambda item: -item[1].count)[:limit]
    return [
        KeyRow(
            key=key,
            count=int(agg.count),
            per_minute=round(agg.count / minutes, 2),
            p50=agg.percentile(0.5),
            p95=agg.percentile(0.95),
            p99=agg.percentile(0.99),
            failure_rate=agg.failure_rate,
        )
        for key, agg in ordered
        if agg.count
    ]


def staff_dashboard(*, range_name: str) -> dict:
    """Every chart and table of the staff dashboard, from the rollups alone (plus live breaker state)."""
    if range_name not in RANGES:
        range_name = "hour"
    span, _, width = RANGES[range_name]
    fmt = LABEL_FORMATS[range_name]

    buckets, requests = rollups("request", range_name)
    merged = _merge_buckets(requests, buckets)
    request_chart = charts.time_chart(
        title="Requests per minute",
        unit="req/min",
        buckets=buckets,
        series={
            "all": [_per_minute(a.count, width) for a in merged],
            "5xx": [_per_minute(a.failures, width) for a in merged],
        },
        label_format=fmt,
    )
    latency_chart = charts.time_chart(
        title="Response time",
        unit="ms",
        buckets=buckets,
        series={name: [a.percentile(q) for a in merged] for name, q in (("p50", 0.5), ("p95", 0.95), ("p99", 0.99))},
        label_format=fmt,
    )
    error_rate_chart = charts.time_chart(
        title="Error rate (5xx share of requests)",
        unit="%",
        buckets=buckets,
        series={"5xx": [a.failure_rate if a.count else None for a in merged]},
        label_format=fmt,
    )
    _, errors = rollups("error", range_name)
    errors_chart = charts.time_chart(
        title="Errors recorded per minute",
        unit="/min",
        buckets=buckets,
        series={
            category: [_per_minute(by_bucket[b].count, width) if b in by_bucket else 0 for b in buckets]
            for category, by_bucket in sorted(errors.items())
        }
        or {"errors": [0 for _ in buckets]},
        label_format=fmt,
    )
    _, group_rollups = rollups("error_group", range_name)
    group_totals = sorted(((agg.count, fp) for fp, agg in _totals(group_rollups).items()), reverse=True)[:10]
    groups = {g.fingerprint: g for g in ErrorGroup.objects.filter(fingerprint__in=[fp for _, fp in group_totals])}
    top_groups = [(groups[fp], int(count)) for count, fp in group_totals if fp in groups]

    _, tasks = rollups("task", range_name)
    merged_tasks = _merge_buckets(tasks, buckets)
    task_chart = charts.time_chart(
        title="Celery tasks per minute",
        unit="/min",
        buckets=buckets,
        series={
            "runs": [_per_minute(a.count, width) for a in merged_tasks],
            "failures": [_per_minute(a.failures, width) for a in merged_tasks],
        },
        label_format=fmt,
    )
    _, queue = rollups("queue_depth", range_name)
    queue_chart = charts.time_chart(
        title="Queue depth",
        unit="messages",
        buckets=buckets,
        series={name: [by_bucket[b].value if b in by_bucket else None for b in buckets] for name, by_bucket in queue.items()}
        or {"celery": [None for _ in buckets]},
        label_format=fmt,
    )
    _, lag = rollups("scheduler_lag", range_name)
    lag_by_bucket = lag.get("", {})
    lag_chart = charts.time_chart(
        title="Scheduler lag (oldest due run not yet dispatched)",
        unit="s",
        buckets=buckets,
        series={"lag": [lag_by_bucket[b].value if b in lag_by_bucket else None for b in buckets]},
        label_format=fmt,
    )
    _, providers = rollups("provider", range_name)
    provider_totals = _totals(providers)
    provider_chart = charts.time_chart(
        title="Provider latency p95",
        unit="ms",
        buckets=buckets,
        series={
            name: [by_bucket[b].percentile(0.95) if b in by_bucket else None for b in buckets]
            for name, by_bucket in sorted(providers.items())
        }
        or {"none": [None for _ in buckets]},
        label_format=fmt,
    )
    states = live.breaker_states()
    provider_rows = []
    for name in sorted(set(provider_totals) | set(states)):
        agg = provider_totals.get(name, Agg())
        state, open_for = states.get(name, ("unknown", None))
        provider_rows.append(
            {"name": name, "calls": int(agg.count), "p95": agg.percentile(0.95), "failure_rate": agg.failure_rate,
             "state": state, "open_for": open_for}
        )
    _, publishes = rollups("publish", range_name)
    publish_rows = [
        {"destination": key, "runs": int(agg.count), "failed": int(agg.failures),
         "success_rate": 100 - agg.failure_rate if agg.failure_rate is not None else None}
        for key, agg in sorted(_totals(publishes).items(), key=lambda item: -item[1].count)[:20]
    ]
    return {
        "range": range_name,
        "ranges": list(RANGES),
        "charts_requests": [request_chart, latency_chart],
        "charts_errors": [error_rate_chart, errors_chart],
        "charts_celery": [task_chart, queue_chart, lag_chart],
        "charts_providers": [provider_chart],
        "routes": _key_rows(_totals(requests), span),
        "tasks": _key_rows(_totals(tasks), span),
        "top_groups": top_groups,
        "providers": provider_rows,
        "publishes": publish_rows,
    }


def error_group_chart(*, group: ErrorGroup, range_name: str = "day") -> charts.TimeChart:
    buckets, per_key = rollups("error_group", range_name, keys=[group.fingerprint])
    by_bucket = per_key.get(group.fingerprint, {})
    return charts.time_chart(
        title="Occurrences",
        unit="per hour",
        buckets=buckets,
        series={"occurrences": [by_bucket[b].count if b in by_bucket else 0 for b in buckets]},
        whole=True,
    )


# Runs per query when their steps are read by id: well under PostgreSQL's 65,535 parameters.
STEP_READ_CHUNK = 5000


def _publishes_by_destination(execution_ids: list[int], *, since: datetime) -> list[dict]:
    """The publish steps of these runs finished since ``since``, counted per destination, most
    runs first.

    Read by the runs' ids rather than through a join on the workspace: PostgreSQL answers a join
    by reading the whole steps table while that table looks small enough, a cost that grows with
    every run the workspace ever had, where the ids cost the range's runs."""
    from campaigns.models import ExecutionStep, StepStatus

    totals: dict[tuple[str, int], dict] = {}
    for start in range(0, len(execution_ids), STEP_READ_CHUNK):
        rows = (
            ExecutionStep.objects.filter(
                execution_id__in=execution_ids[start : start + STEP_READ_CHUNK], name="publish", finished_at__gte=since
            )
            .exclude(destination="")
            .values("destination", "object_id")
            .annotate(
                runs=Count("id"),
                failed=Count("id", filter=Q(status=StepStatus.FAILED)),
                succeeded=Count("id", filter=Q(status=StepStatus.SUCCEEDED)),
            )
            .order_by()
        )
        for row in rows:
            total = totals.setdefault((row["destination"], row["object_id"]), {**row, "runs": 0, "failed": 0, "succeeded": 0})
            for name in ("runs", "failed", "succeeded"):
                total[name] += row[name]
    return sorted(totals.values(), key=lambda row: -row["runs"])


def workspace_dashboard(*, workspace, range_name: str) -> dict:
    """The owner's view: their runs per destination, their trigger events, the errors that touched them."""
    from campaigns.models import CampaignExecution, ExecutionStatus
    from triggers.models import TriggerEvent

    if range_name not in RANGES:
        range_name = "day"
    span, _, width = RANGES[range_name]
    buckets, _, _ = _window(range_name)
    since = buckets[0]
    outcomes = (
        CampaignExecution.objects.filter(workspace=workspace, finished_at__gte=since)
        .order_by()
        .values_list("pk", "status", "finished_at")
    )
    ok = [0] * len(buckets)
    failed = [0] * len(buckets)
    finished_ids = []
    for pk, status, finished_at in outcomes:
        finished_ids.append(pk)
        index = min(len(buckets) - 1, max(0, int((finished_at - since) / width)))
        if status == ExecutionStatus.SUCCEEDED:
            ok[index] += 1
        elif status == ExecutionStatus.FAILED:
            failed[index] += 1
    runs_chart = charts.time_chart(
        title="Finished runs", unit="runs", buckets=buckets, series={"succeeded": ok, "failed": failed},
        label_format=LABEL_FORMATS[range_name], whole=True,
    )
    from campaigns.destinations import destination_label, targets_describe
    from campaigns.models import CampaignTarget

    running_ids = (
        CampaignExecution.objects.filter(workspace=workspace, finished_at__isnull=True).order_by().values_list("pk", flat=True)
    )
    destinations = _publishes_by_destination([*finished_ids, *running_ids], since=since)[:20]
    # Named as the campaign page names them ("@shop"), through the destinations registry.
    labels = targets_describe(
        [CampaignTarget(destination=row["destination"], object_id=row["object_id"]) for row in destinations],
        workspace_id=workspace.pk,
    )
    destination_rows = []
    for row, label in zip(destinations, labels, strict=True):
        settled = row["failed"] + row["succeeded"]
        destination_rows.append(
            {"destination": f"{destination_label(row['destination'])} {label.label}", "runs": row["runs"], "failed": row["failed"],
             "success_rate": 100 * row["succeeded"] / settled if settled else None}
        )
    events = TriggerEvent.objects.filter(workspace=workspace, received_at__gte=since).aggregate(
        matched_count=Count("id", filter=Q(matched=True)), not_matched_count=Count("id", filter=Q(matched=False))
    )
    groups = ErrorGroup.objects.filter(workspaces=workspace, last_seen__gte=since).exclude(status=GroupStatus.IGNORED)[:10]
    return {
        "range": range_name,
        "ranges": list(RANGES),
        "runs_chart": runs_chart,
        "destinations": destination_rows,
        "events": events,
        "groups": groups,
    }
