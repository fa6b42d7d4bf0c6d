"""Reads for Instagram: accounts of a workspace, the reconnect banner, insights for pages."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import QuerySet
from django.utils import timezone

from campaigns.models import Campaign, CampaignExecution, ExecutionStep
from marketing.models import Membership, Role, Workspace

from . import charts
from .destination import KEY as DESTINATION_KEY
from .models import AccountStatus, InsightObject, InsightValue, InstagramAccount, PublishAttempt

MEDIA_METRIC_LABELS = {
    "views": "Views",
    "reach": "Reach",
    "likes": "Likes",
    "comments": "Comments",
    "shares": "Shares",
    "saved": "Saves",
    "total_interactions": "Interactions",
}
ACCOUNT_CHARTS = {
    "followers_count": "Followers",
    "reach": "Accounts reached",
    "views": "Views",
    "accounts_engaged": "Accounts engaged",
    "total_interactions": "Interactions",
}
ANALYTICS_PERIODS = (7, 30, 90)
ANALYTICS_DAYS = 30
# How a period is summed up per metric. Followers is a count on a day, so the period shows the
# latest and its change. Reach and accounts engaged count distinct accounts per day: the same
# person on two days counts twice, so a sum would overstate them and the period shows a day's
# average. Views and interactions add up.
LATEST, DAILY_AVERAGE, TOTAL = "latest", "daily_average", "total"
ACCOUNT_SUMMARY = {
    "followers_count": LATEST,
    "reach": DAILY_AVERAGE,
    "views": TOTAL,
    "accounts_engaged": DAILY_AVERAGE,
    "total_interactions": TOTAL,
}


def account_list(*, workspace: Workspace) -> QuerySet[InstagramAccount]:
    return InstagramAccount.objects.filter(workspace=workspace).order_by("username", "id")


def accounts_needing_reconnect(*, workspace: Workspace) -> QuerySet[InstagramAccount]:
    return account_list(workspace=workspace).filter(status=AccountStatus.NEEDS_RECONNECT)


def owner_emails(*, workspace: Workspace) -> list[str]:
    return list(
        Membership.objects.filter(workspace=workspace, role=Role.OWNER, user__is_active=True)
        .order_by("user__email")
        .values_list("user__email", flat=True)
    )


def publish_steps(*, workspace_id: int) -> QuerySet[ExecutionStep]:
    """The workspace's publish steps to Instagram accounts."""
    return ExecutionStep.objects.filter(
        execution__workspace_id=workspace_id, name="publish", destination=DESTINATION_KEY
    )


def steps_published_to(*, account: InstagramAccount) -> QuerySet[ExecutionStep]:
    """Publish steps that put a post on the account."""
    return publish_steps(workspace_id=account.workspace_id).filter(object_id=account.pk).exclude(external_id="")


def recent_attempts(*, account: InstagramAccount, limit: int = 10) -> QuerySet[PublishAttempt]:
    return (
        PublishAttempt.objects.filter(account=account, workspace_id=account.workspace_id)
        .select_related("execution__campaign")
        .order_by("-started_at", "-id")[:limit]
    )


@dataclass
class PostInsights:
    """The latest numbers of one published post, for the campaign page and the analytics page."""

    execution: CampaignExecution
    media_id: str
    permalink: str
    day: date | None = None
    metrics: list[tuple[str, int | None]] = field(default_factory=list)  # (label, value or None for no data)

    @property
    def has_data(self) -> bool:
        return self.day is not None


def _latest_media_values(*, workspace_id: int, media_ids: list[str]) -> dict[str, dict[str, tuple[date, int | None]]]:
    """Each post's newest stored value of each metric, with its day: ``{media id: {metric: (day, value)}}``."""
    latest: dict[str, dict[str, tuple[date, int | None]]] = {}
    rows = (
        InsightValue.objects.filter(workspace_id=workspace_id, object_type=InsightObject.MEDIA, object_id__in=media_ids)
        .order_by("-day")
        .values_list("object_id", "metric", "day", "value")
    )
    for media_id, metric, day, value in rows:
        latest.setdefault(media_id, {}).setdefault(metric, (day, value))
    return latest


def _post_insights(*, workspace_id: int, steps: list[ExecutionStep]) -> list[PostInsights]:
    """Each step's post (from the media id it reported) with its newest numbers."""
    posts = [(step, step.state.get("outputs", {})) for step in steps]
    latest = _latest_media_values(
        workspace_id=workspace_id, media_ids=[outputs.get("instagram_media_id", "") for _, outputs in posts]
    )
    found_posts = []
    for step, outputs in posts:
        media_id = outputs.get("instagram_media_id", "")
        found = latest.get(media_id, {})
        day = max((d for d, _ in found.values()), default=None)
        found_posts.append(
            PostInsights(
                execution=step.execution,
                media_id=media_id,
                permalink=outputs.get("instagram_permalink", ""),
                day=day,
                metrics=[(label, found.get(metric, (None, None))[1]) for metric, label in MEDIA_METRIC_LABELS.items()],
            )
        )
    return found_posts


def campaign_insights(*, campaign: Campaign, limit: int = 5) -> list[PostInsights]:
    """The campaign's latest Instagram posts with their newest numbers; empty when it has none.

    Posts made by our publish step and posts an n8n workflow reported both count.
    """
    steps = list(
        ExecutionStep.objects.filter(
            execution__workspace_id=campaign.workspace_id,
            execution__campaign=campaign,
            name="publish",
            state__outputs__has_key="instagram_media_id",
        )
        .select_related("execution")
        .order_by("-execution__queued_at", "-execution_id", "position")[:limit]
    )
    if not steps:
        return []
    return _post_insights(workspace_id=campaign.workspace_id, steps=steps)


@dataclass
class MetricChart:
    metric: str
    label: str
    chart: charts.Chart


@dataclass
class MetricSummary:
    """A metric over the period beside the same over the period before it."""

    label: str
    kind: str  # LATEST, DAILY_AVERAGE or TOTAL
    value: int | None  # None: no data in the period
    previous: int | None
    days: int

    @property
    def heading(self) -> str:
        return {DAILY_AVERAGE: f"{self.label}, daily average", TOTAL: f"{self.label}, total"}.get(self.kind, self.label)

    @property
    def change(self) -> int | None:
        if self.value is None or self.previous is None:
            return None
        return self.value - self.previous

    @property
    def change_percent(self) -> int | None:
        """The change against the period before, in percent; None when that period had nothing to compare with."""
        if self.change is None or not self.previous:
            return None
        return round(100 * self.change / self.previous)

    @property
    def comparison(self) -> str:
        """The change in words, or "" when there is nothing to compare with."""
        if self.kind == LATEST:
            if self.change is None:
                return ""
            if self.change == 0:
                return f"no change in {self.days} days"
            return f"{_signed(self.change)} in {self.days} days"
        if self.change_percent is None:
            return ""
        if self.change_percent == 0:
            return f"about the same as the {self.days} days before"
        return f"{_signed(self.change_percent)}% on the {self.days} days before"

    @property
    def trend(self) -> str:
        """"up", "down" or "" for the comparison's colour: more is better for every metric shown."""
        change = self.change if self.kind == LATEST else self.change_percent
        if not change:
            return ""
        return "up" if change > 0 else "down"


def _signed(number: int) -> str:
    return f"{number:+,}".replace("-", "\N{MINUS SIGN}")


def analytics_period(value: str | None) -> int:
    """The number of days asked for in ``?days=``, or the default for anything else."""
    try:
        days = int(value or "")
    except ValueError:
        return ANALYTICS_DAYS
    return days if days in ANALYTICS_PERIODS else ANALYTICS_DAYS


def analytics_window(days: int) -> tuple[date, date]:
    """The period's first and last day: the last ``days`` days, today included."""
    end = timezone.now().date()
    return end - timedelta(days=days - 1), end


def account_daily_values(*, account: InstagramAccount, start: date, end: date) -> dict[str, dict[date, int | None]]:
    """The account's stored daily numbers between two days, by metric then day."""
    rows = InsightValue.objects.filter(
        account=account,
        workspace_id=account.workspace_id,
        object_type=InsightObject.ACCOUNT,
        object_id=account.ig_user_id,
        metric__in=list(ACCOUNT_CHARTS),
        day__range=(start, end),
    ).values_list("metric", "day", "value")
    by_metric: dict[str, dict[date, int | None]] = {}
    for metric, day, value in rows:
        by_metric.setdefault(metric, {})[day] = value
    return by_metric


def _summed_up(kind: str, by_day: dict[date, int | None], start: date, end: date) -> int | None:
    values = [value for day, value in sorted(by_day.items()) if start <= day <= end and value is not None]
    if not values:
        return None
    if kind == LATEST:
        return values[-1]
    if kind == DAILY_AVERAGE:
        return round(sum(values) / len(values))
    return sum(values)


def account_analytics(*, account: InstagramAccount, days: int = ANALYTICS_DAYS) -> dict:
    """Charts and summaries of the account's daily metrics over the last ``days`` days, and its recent posts' numbers."""
    start, end = analytics_window(days)
    previous_start, previous_end = start - timedelta(days=days), start - timedelta(days=1)
    by_metric = account_daily_values(account=account, start=previous_start, end=end)
    all_days = [start + timedelta(days=offset) for offset in range(days)]
    metric_charts = [
        MetricChart(
            metric=metric,
            label=label,
            chart=charts.line_chart([(day, by_metric.get(metric, {}).get(day)) for day in all_days]),
        )
        for metric, label in ACCOUNT_CHARTS.items()
    ]
    summaries = [
        MetricSummary(
            label=ACCOUNT_CHARTS[metric],
            kind=kind,
            value=_summed_up(kind, by_metric.get(metric, {}), start, end),
            previous=_summed_up(kind, by_metric.get(metric, {}), previous_start, previous_end),
            days=days,
        )
        for metric, kind in ACCOUNT_SUMMARY.items()
    ]
    steps = list(
        steps_published_to(account=account)
        .select_related("execution__campaign")
        .order_by("-execution__queued_at", "-execution_id")[:20]
    )
    return {
        "days": days,
        "periods": ANALYTICS_PERIODS,
        "charts": metric_charts,
        "summaries": summaries,
        "posts": _post_insights(workspace_id=account.workspace_id, steps=steps),
        "metric_labels": list(MEDIA_METRIC_LABELS.values()),
        "start": start,
        "end": end,
    }


def account_daily_rows(*, account: InstagramAccount, days: int) -> tuple[list[str], list[list]]:
    """The account's numbers, one row per day of the period, for a CSV download; no data is an empty cell."""
    start, end = analytics_window(days)
    by_metric = account_daily_values(account=account, start=start, end=end)
    header = ["Date", *ACCOUNT_CHARTS.values()]
    rows = []
    for offset in range(days):
        day = start + timedelta(days=offset)
        rows.append([day.isoformat(), *(by_metric.get(metric, {}).get(day) for metric in ACCOUNT_CHARTS)])
    return header, rows


def account_post_rows(*, account: InstagramAccount, days: int) -> tuple[list[str], list[list]]:
    """Every post published to the account in the period with its newest numbers, oldest first, for a CSV download.

    Times are in the active time zone, which the header names.
    """
    start, _ = analytics_window(days)
    since = datetime.combine(start, time.min, tzinfo=UTC)  # the period's days are UTC days, as the insights'
    steps = list(
        steps_published_to(account=account)
        .filter(finished_at__gte=since)
        .select_related("execution__campaign")
        .order_by("finished_at", "execution_id")
    )
    header = [
        "Campaign", f"Published ({timezone.get_current_timezone_name()})", "Post", "Media ID", "Numbers as of",
        *MEDIA_METRIC_LABELS.values(),
    ]
    rows = []
    for step, post in zip(steps, _post_insights(workspace_id=account.workspace_id, steps=steps), strict=True):
        rows.append([
            post.execution.campaign.name,
            timezone.localtime(step.finished_at).strftime("%Y-%m-%d %H:%M"),
            post.permalink,
            post.media_id,
            post.day.isoformat() if post.day else "",
            *(value for _, value in post.metrics),
        ])
    return header, rows


# Best times to post: when the account's own posts drew the most engagement, by weekday and
# time of day in the viewer's time zone. A post's engagement is its interactions per account
# reached, so a time is not favoured only because the audience grew or a post was boosted.
BEST_TIMES_DAYS = 90
BEST_TIMES_BLOCK_HOURS = 3
BEST_TIMES_MIN_POSTS = 5  # posts with numbers before any time is suggested
BEST_TIMES_MIN_SLOT_POSTS = 2  # one post at a time says little about the time
BEST_TIMES_SHOWN = 3
HEAT_LEVELS = 4
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
BLOCKS = tuple(range(24 // BEST_TIMES_BLOCK_HOURS))
INTERACTION_PARTS = ("likes", "comments", "shares", "saved")


@dataclass(frozen=True)
class TimeSlot:
    """Posts published in one weekday's block of hours, and their mean engagement."""

    weekday: int  # 0 is Monday
    block: int
    posts: int
    rate: float  # interactions per account reached, averaged over the posts
    level: int  # 0 to HEAT_LEVELS, against the best slot with enough posts

    @property
    def enough(self) -> bool:
        return self.posts >= BEST_TIMES_MIN_SLOT_POSTS

    @property
    def hours(self) -> str:
        return block_label(self.block)

    @property
    def label(self) -> str:
        return f"{WEEKDAYS[self.weekday]} {self.hours}"

    @property
    def percent(self) -> str:
        return f"{100 * self.rate:.1f}%"


def block_label(block: int) -> str:
    start = block * BEST_TIMES_BLOCK_HOURS
    return f"{start:02d}:00–{start + BEST_TIMES_BLOCK_HOURS:02d}:00"


@dataclass
class BestTimes:
    posts: int  # posts of the window with a reach to divide by
    slots: dict[tuple[int, int], TimeSlot]
    zone: str
    days: int = BEST_TIMES_DAYS

    @property
    def best(self) -> list[TimeSlot]:
        """The slots with the highest engagement among those with enough posts; none before enough posts."""
        if self.posts < BEST_TIMES_MIN_POSTS:
            return []
        eligible = [slot for slot in self.slots.values() if slot.enough]
        return sorted(eligible, key=lambda slot: (-slot.rate, -slot.posts, slot.weekday, slot.block))[:BEST_TIMES_SHOWN]

    @property
    def rows(self) -> list[tuple[str, list[TimeSlot | None]]]:
        """The week as a grid: a row per weekday, a cell per block, None where nothing was published."""
        return [(name, [self.slots.get((weekday, block)) for block in BLOCKS]) for weekday, name in enumerate(WEEKDAYS)]

    @property
    def block_labels(self) -> list[str]:
        return [block_label(block) for block in BLOCKS]

    @property
    def min_posts(self) -> int:
        return BEST_TIMES_MIN_POSTS


def post_engagement(values: dict[str, tuple[date, int | None]]) -> float | None:
    """Interactions per account reached, or None without a reach to divide by.

    Instagram's total is taken when it has one; otherwise the parts it has are added up.
    """
    reach = values.get("reach", (None, None))[1]
    if not reach:
        return None
    total = values.get("total_interactions", (None, None))[1]
    if total is None:
        parts = [values[part][1] for part in INTERACTION_PARTS if part in values and values[part][1] is not None]
        if not parts:
            return None
        total = sum(parts)
    return total / reach


def best_times(*, account: InstagramAccount) -> BestTimes:
    """When the account's posts of the last ``BEST_TIMES_DAYS`` days did best, in the active time zone."""
    since = timezone.now() - timedelta(days=BEST_TIMES_DAYS)
    published = list(
        steps_published_to(account=account).filter(finished_at__gte=since).values_list("finished_at", "state")
    )
    media_of = [(finished_at, (state or {}).get("outputs", {}).get("instagram_media_id", "")) for finished_at, state in published]
    latest = _latest_media_values(workspace_id=account.workspace_id, media_ids=[media_id for _, media_id in media_of])
    rates: dict[tuple[int, int], list[float]] = {}
    for finished_at, media_id in media_of:
        rate = post_engagement(latest.get(media_id, {}))
        if rate is None:
            continue
        local = timezone.localtime(finished_at)
        rates.setdefault((local.weekday(), local.hour // BEST_TIMES_BLOCK_HOURS), []).append(rate)
    means = {key: sum(values) / len(values) for key, values in rates.items()}
    # One lucky post would pale every other time: shades are against the best time with enough posts.
    top = max(
        (mean for key, mean in means.items() if len(rates[key]) >= BEST_TIMES_MIN_SLOT_POSTS),
        default=max(means.values(), default=0),
    )
    slots = {
        key: TimeSlot(
            weekday=key[0],
            block=key[1],
            posts=len(rates[key]),
            rate=mean,
            level=min(HEAT_LEVELS, math.ceil(HEAT_LEVELS * mean / top)) if top else 0,
        )
        for key, mean in means.items()
    }
    return BestTimes(
        posts=sum(len(values) for values in rates.values()), slots=slots, zone=timezone.get_current_timezone_name()
    )
