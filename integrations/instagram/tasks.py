"""Beat tasks for Instagram (names are in CELERY_BEAT_SCHEDULE) and the reconnect email."""

import logging

from celery import shared_task
from django.conf import settings
from django.urls import reverse

from marketing.emails import send_templated

from . import insights, selectors, services
from .models import AccountStatus, InstagramAccount

logger = logging.getLogger(__name__)


@shared_task
def refresh_expiring_tokens() -> int:
    """Daily: long-lived tokens that expire within seven days are exchanged for fresh ones."""
    refreshed = services.tokens_refresh_expiring()
    logger.info("instagram tokens refreshed", extra={"count": refreshed})
    return refreshed


@shared_task
def pull_media_insights() -> int:
    """Every six hours: the metrics of the posts published in the last 30 days."""
    return insights.insights_pull_media()


@shared_task
def pull_account_insights() -> int:
    """Daily: each connected account's totals for yesterday and its follower count."""
    return insights.insights_pull_accounts()


@shared_task
def refresh_account_insights(account_id: int) -> int:
    """An owner's "Refresh now": one account's totals and its recent posts' metrics."""
    account = InstagramAccount.objects.filter(pk=account_id, status=AccountStatus.CONNECTED).first()
    if account is None:
        return 0
    insights.account_insights_pull(account=account)
    return insights.account_media_insights_pull(account=account)


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_reconnect_email(account_id: int) -> int:
    """Tells the workspace's owners that an account needs reconnecting; returns how many were told."""
    account = InstagramAccount.objects.select_related("workspace").filter(pk=account_id).first()
    if account is None or account.status != AccountStatus.NEEDS_RECONNECT:
        return 0
    recipients = selectors.owner_emails(workspace=account.workspace)
    if not recipients:
        return 0
    context = {"account": account, "url": settings.PUBLIC_BASE_URL + reverse("instagram_accounts")}
    send_templated("instagram/email/reconnect", context, recipients)
    return len(recipients)
