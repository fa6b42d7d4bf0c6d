"""Instagram insights: pulling media and account metrics into ``InsightValue``, and refreshes on demand."""

from __future__ import annotations

import logging
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.utils import timezone

from campaigns.models import PostFormat
from integrations.http import ProviderError
from marketing import outbox
from marketing.models import MANAGER_ROLES, Membership

from . import client, selectors
from .models import AccountStatus, InsightObject, InsightValue, InstagramAccount
from .services import account_mark_needs_reconnect

logger = logging.getLogger(__name__)

MEDIA_INSIGHTS_DAYS = 30
# Instagram keeps a story's insights while it is live.
STORY_INSIGHTS_DAYS = 1


def insights_store(*, account: InstagramAccount, object_type: str, object_id: str, day: date, values: dict) -> int:
    """Upserts one value per metric for the object and day; returns how many were written."""
    rows = [
        InsightValue(
            workspace_id=account.workspace_id,
            account=account,
            object_type=object_type,
            object_id=object_id,
            metric=metric,
            day=day,
            value=value,
            updated_at=timezone.now(),
        )
        for metric, value in values.items()
    ]
    InsightValue.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["account", "object_type", "object_id", "metric", "day"],
        update_fields=["value", "updated_at"],
    )
    return len(rows)


def _insight_accounts():
    return InstagramAccount.objects.filter(status=AccountStatus.CONNECTED).exclude(access_token="")


def media_insights_pull(
    *,
    account: InstagramAccount,
    media_ids: list[str],
    day: date | None = None,
    metrics: tuple[str, ...] = client.MEDIA_METRICS,
) -> int:
    """Pulls the lifetime ``metrics`` of the account's posts (or stories) for ``day`` (today); stops
    at an invalid token."""
    day = day or timezone.now().date()
    pulled = 0
    for media_id in media_ids:
        try:
            values = client.media_insights(media_id=media_id, token=account.access_token, metrics=metrics)
        except client.TokenInvalid as error:
            account_mark_needs_reconnect(account=account, reason=error.message)
            break
        except ProviderError as error:
            logger.warning("instagram media insights failed", extra={"media_id": media_id, "error": error.message})
            continue
        insights_store(account=account, object_type=InsightObject.MEDIA, object_id=media_id, day=day, values=values)
        pulled += 1
    return pulled


def account_media_insights_pull(*, account: InstagramAccount) -> int:
    """Media insights for every post published to ``account`` in the last 30 days, and every
    story still live (its own metrics: a story has no likes, comments or saves)."""
    now = timezone.now()
    since = now - timedelta(days=MEDIA_INSIGHTS_DAYS)
    published = (
        selectors.steps_published_to(account=account)
        .filter(Q(execution__finished_at__gte=since) | Q(execution__finished_at__isnull=True, execution__queued_at__gte=since))
        .values_list("external_id", "execution__campaign__format", "execution__finished_at", "execution__queued_at")
        .distinct()
    )
    posts, stories = [], []
    for media_id, format, finished_at, queued_at in published:
        if format != PostFormat.STORY:
            posts.append(media_id)
        elif (finished_at or queued_at) >= now - timedelta(days=STORY_INSIGHTS_DAYS):
            stories.append(media_id)
    pulled = media_insights_pull(account=account, media_ids=posts) if posts else 0
    if stories:
        pulled += media_insights_pull(account=account, media_ids=stories, metrics=client.STORY_METRICS)
    return pulled


def insights_pull_media() -> int:
    """Media insights for every post we published in the last 30 days, on connected accounts."""
    return sum(account_media_insights_pull(account=account) for account in _insight_accounts())


# Each refresh costs several Graph calls per post, counted against the app's rate limit.
INSIGHTS_REFRESH_RATE = "1 per 10 minutes"


class RefreshRefused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def insights_refresh_request(*, account: InstagramAccount, membership: Membership | None) -> None:
    """Queues a pull of the account's insights now, for an owner or admin, once per ten minutes."""
    from marketing import ratelimit

    from .tasks import refresh_account_insights

    if membership is None or membership.role not in MANAGER_ROLES:
        raise PermissionDenied("Only owners and admins can refresh insights.")
    if account.status != AccountStatus.CONNECTED:
        raise RefreshRefused(f"@{account.username} needs reconnecting before its insights can be pulled.")
    verdict = ratelimit.hit(scope="insights_refresh", key=str(account.pk), rate=INSIGHTS_REFRESH_RATE)
    if verdict is not None and verdict.limited:
        minutes = max(1, round(verdict.retry_after / 60))
        raise RefreshRefused(
            f"Insights of @{account.username} were refreshed a moment ago; try again in {minutes} minute{'s' if minutes > 1 else ''}."
        )
    outbox.send_on_commit(refresh_account_insights, account.pk)


def account_insights_pull(*, account: InstagramAccount, day: date | None = None) -> bool:
    """The account's totals for ``day`` (yesterday, UTC) and today's follower count."""
    day = day or (timezone.now() - timedelta(days=1)).date()
    since = datetime.combine(day, datetime.min.time(), tzinfo=ZoneInfo("UTC"))
    try:
        values = client.account_insights(
            ig_user_id=account.ig_user_id, token=account.access_token, since=since, until=since + timedelta(days=1)
        )
        profile = client.account_profile(ig_user_id=account.ig_user_id, token=account.access_token)
    except client.TokenInvalid as error:
        account_mark_needs_reconnect(account=account, reason=error.message)
        return False
    except ProviderError as error:
        logger.warning("instagram account insights failed", extra={"account_id": account.pk, "error": error.message})
        return False
    insights_store(account=account, object_type=InsightObject.ACCOUNT, object_id=account.ig_user_id, day=day, values=values)
    try:
        followers = int(profile.get("followers_count"))
    except (TypeError, ValueError):
        followers = None
    insights_store(
        account=account,
        object_type=InsightObject.ACCOUNT,
        object_id=account.ig_user_id,
        day=timezone.now().date(),
        values={"followers_count": followers},
    )
    changed = {}
    if profile.get("username") and profile["username"] != account.username:
        changed["username"] = str(profile["username"])[:100]
    if profile.get("profile_picture_url") and profile["profile_picture_url"] != account.profile_picture_url:
        changed["profile_picture_url"] = str(profile["profile_picture_url"])[:1000]
    if changed:
        InstagramAccount.objects.filter(pk=account.pk).update(**changed)
    return True


def insights_pull_accounts() -> int:
    return sum(account_insights_pull(account=account) for account in _insight_accounts())
