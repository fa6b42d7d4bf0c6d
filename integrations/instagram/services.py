"""Writes on connected Instagram accounts: disconnecting, the reconnect state, tokens, the publishing quota.

Connecting lives in ``oauth.py``, publishing a run in ``publishing.py``, insights in ``insights.py``.
Graph details stay in ``client.py``.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.utils import timezone

from integrations.http import ProviderError
from marketing import outbox

from marketing.models import MANAGER_ROLES, Membership

from . import client
from .models import AccountStatus, AttemptStatus, InstagramAccount, PublishAttempt

logger = logging.getLogger(__name__)

def require_manager(membership: Membership | None) -> None:
    if membership is None or membership.role not in MANAGER_ROLES:
        raise PermissionDenied("Only owners and admins can connect or disconnect Instagram accounts.")


@transaction.atomic
def account_disconnect(*, account: InstagramAccount, membership: Membership) -> InstagramAccount:
    """Forgets the token; campaigns keep pointing at the account but cannot publish until it is reconnected."""
    require_manager(membership)
    InstagramAccount.objects.filter(pk=account.pk).update(
        access_token="", token_expires_at=None, status=AccountStatus.DISCONNECTED, last_error="", updated_at=timezone.now()
    )
    account.refresh_from_db()
    logger.info("instagram account disconnected", extra={"account_id": account.pk, "by": membership.user_id})
    return account


def account_mark_needs_reconnect(*, account: InstagramAccount, reason: str) -> bool:
    """Marks a connected account "needs reconnect" and emails the workspace's owners, once per incident.

    Returns whether this call changed the status (and so queued the email).
    """
    with transaction.atomic():
        changed = InstagramAccount.objects.filter(pk=account.pk, status=AccountStatus.CONNECTED).update(
            status=AccountStatus.NEEDS_RECONNECT, last_error=reason[:2000], updated_at=timezone.now()
        )
        if changed:
            from .tasks import send_reconnect_email

            outbox.send_on_commit(send_reconnect_email, account.pk)
    account.status = AccountStatus.NEEDS_RECONNECT if changed else account.status
    account.last_error = reason[:2000] if changed else account.last_error
    logger.warning("instagram account needs reconnecting", extra={"account_id": account.pk, "reason": reason[:300]})
    return bool(changed)


# Tokens ----------------------------------------------------------------------------------------

REFRESH_WITHIN = timedelta(days=7)


def token_refresh(*, account: InstagramAccount) -> bool:
    """Exchanges the account's long-lived token for a fresh one. False when Meta refused or failed."""
    if not account.access_token:
        return False
    try:
        fresh = client.exchange_long_lived(token=account.access_token)
    except client.TokenInvalid as error:
        account_mark_needs_reconnect(account=account, reason=error.message)
        return False
    except (ProviderError, client.NotConfigured) as error:
        logger.warning(
            "instagram token refresh failed", extra={"account_id": account.pk, "error": getattr(error, "message", str(error))}
        )
        return False
    now = timezone.now()
    account.access_token = fresh.access_token
    account.token_expires_at = now + timedelta(seconds=fresh.expires_in) if fresh.expires_in else None
    account.token_refreshed_at = now
    account.save(update_fields=["access_token", "token_expires_at", "token_refreshed_at", "updated_at"])
    logger.info("instagram token refreshed", extra={"account_id": account.pk, "expires_at": str(account.token_expires_at)})
    return True


def tokens_refresh_expiring() -> int:
    """Refreshes every connected account's token that expires within seven days; returns how many were."""
    soon = timezone.now() + REFRESH_WITHIN
    accounts = InstagramAccount.objects.filter(
        status=AccountStatus.CONNECTED, token_expires_at__isnull=False, token_expires_at__lte=soon
    ).exclude(access_token="")
    return sum(token_refresh(account=account) for account in accounts)


# Publishing quota ------------------------------------------------------------------------------


QUOTA_FIELDS = ("quota_total", "quota_usage", "quota_checked_at")


def account_quota_read(*, account: InstagramAccount) -> client.Quota:
    """Reads the 24-hour publishing quota from Instagram into the account instance; the caller
    writes ``QUOTA_FIELDS`` with its next write (the publish step, with the container's id)."""
    quota = client.publishing_limit(ig_user_id=account.ig_user_id, token=account.access_token)
    total = quota.total or account.quota_total
    account.quota_total, account.quota_usage, account.quota_checked_at = total, quota.usage, timezone.now()
    return client.Quota(usage=quota.usage, total=total, duration=quota.duration)


def next_publish_slot(*, account: InstagramAccount) -> datetime | None:
    """When the oldest post we published in the last 24 hours leaves the window, if we know of one."""
    since = timezone.now() - timedelta(hours=24)
    oldest = (
        PublishAttempt.objects.filter(account=account, status=AttemptStatus.PUBLISHED, published_at__gte=since)
        .order_by("published_at")
        .values_list("published_at", flat=True)
        .first()
    )
    return oldest + timedelta(hours=24) if oldest else None
