"""Reads for Instagram: accounts of a workspace, the reconnect banner, insights for pages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

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
ANALYTICS_DAYS = 30


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


def _post_insights(*, workspace_id: int, steps: list[ExecutionStep]) -> list[PostInsights]:
    """Each step's post (from the media id it reported) with its newest numbers."""
    posts = [(step, step.state.get("outputs", {})) for step in steps]
    media_ids = [outputs.get("instagram_media_id", "") for _, outputs in posts]
    latest: dict[str, dict[str, tuple[date, int | None]]] = {}
    rows = (
        InsightValue.objects.filter(workspace_id=workspace_id, object_type=InsightObject.MEDIA, object_id__in=media_ids)
        .order_by("-day")
        .values_list("object_id", "metric", "day", "value")
    )
    for media_id, metric, day, value in rows:
        latest.setdefault(media_id, {}).setdefault(metric, (day, value))
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


def account_analytics(*, account: InstagramAccount, days: int = ANALYTICS_DAYS) -> dict:
    """Charts of the account's daily metrics and its recent posts' numbers."""
    end = timezone.now().date()
    start = end - timedelta(days=days - 1)
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
    all_days = [start + timedelta(days=offset) for offset in range(days)]
    metric_charts = [
        MetricChart(
            metric=metric,
            label=label,
            chart=charts.line_chart([(day, by_metric.get(metric, {}).get(day)) for day in all_days]),
        )
        for metric, label in ACCOUNT_CHARTS.items()
    ]
    steps = list(
        steps_published_to(account=account)
        .select_related("execution__campaign")
        .order_by("-execution__queued_at", "-execution_id")[:20]
    )
    return {
        "charts": metric_charts,
        "posts": _post_insights(workspace_id=account.workspace_id, steps=steps),
        "metric_labels": list(MEDIA_METRIC_LABELS.values()),
        "start": start,
        "end": end,
    }
