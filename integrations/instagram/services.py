"""Writes for Instagram: connecting accounts, tokens, the publishing quota, publishing a run, insights.

Views, the admin, the campaign engine (through ``destination.py``) and the Celery tasks all come
through here. Graph details stay in ``client.py``.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from billing.plans import Limit
from billing.services import limit_check
from campaigns.destinations import RetryLater, StepFailed, StepOutcome
from campaigns.models import CampaignExecution, ErrorCategory, ExecutionStep
from campaigns.selectors import publishable_images
from campaigns.services import step_record_result, step_save_state
from integrations import crypto
from integrations.http import ProviderError, plain_message
from marketing import outbox
from marketing.models import MANAGER_ROLES, Membership, Workspace

from . import client, selectors
from .models import (
    AccountStatus,
    AttemptStatus,
    InsightObject,
    InsightValue,
    InstagramAccount,
    PublishAttempt,
)

logger = logging.getLogger(__name__)

# OAuth ------------------------------------------------------------------------------------------

STATE_SALT = "integrations.instagram.oauth-state"
STATE_MAX_AGE = 15 * 60  # seconds from "Connect" to the callback
SESSION_NONCE_KEY = "instagram_oauth_nonce"
SESSION_CANDIDATES_KEY = "instagram_oauth_candidates"
CANDIDATES_MAX_AGE = 30 * 60  # seconds to pick accounts after the callback


class OAuthError(Exception):
    """The callback cannot be trusted or completed; ``message`` is for the user."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def redirect_uri() -> str:
    """The callback URL registered in the Meta app (Valid OAuth Redirect URIs)."""
    return settings.PUBLIC_BASE_URL + reverse("instagram_callback")


def require_manager(membership: Membership | None) -> None:
    if membership is None or membership.role not in MANAGER_ROLES:
        raise PermissionDenied("Only owners and admins can connect or disconnect Instagram accounts.")


def oauth_start(*, session, membership: Membership) -> str:
    """The Facebook Login dialog URL, with a state bound to this session and workspace."""
    require_manager(membership)
    nonce = secrets.token_urlsafe(24)
    session[SESSION_NONCE_KEY] = nonce
    state = signing.dumps({"w": membership.workspace_id, "n": nonce}, salt=STATE_SALT, compress=True)
    return client.dialog_url(redirect_uri=redirect_uri(), state=state)


def oauth_check_state(*, session, state: str, workspace: Workspace) -> None:
    """Raises OAuthError unless ``state`` is ours, fresh, for this session and this workspace. Single use."""
    expected_nonce = session.pop(SESSION_NONCE_KEY, None)
    if not state:
        raise OAuthError("The answer from Facebook carried no state, so it was refused. Please connect again.")
    try:
        payload = signing.loads(state, salt=STATE_SALT, max_age=STATE_MAX_AGE)
    except signing.SignatureExpired:
        raise OAuthError("The connection took too long and expired. Please connect again.") from None
    except signing.BadSignature:
        raise OAuthError("The answer from Facebook did not match a connection started here, so it was refused.") from None
    if not isinstance(payload, dict) or not expected_nonce or not constant_time_compare(str(payload.get("n")), expected_nonce):
        raise OAuthError("The answer from Facebook did not match a connection started here, so it was refused.")
    if payload.get("w") != workspace.pk:
        raise OAuthError("The connection was started in another workspace. Switch back to it and connect again.")


@dataclass
class Candidate:
    ig_user_id: str
    username: str
    profile_picture_url: str
    page_id: str
    page_name: str


def oauth_complete(*, session, code: str, workspace: Workspace) -> list[Candidate]:
    """Exchanges the code for a long-lived token and finds the Instagram Business accounts to offer.

    The candidates and the token (encrypted) wait in the session until the user picks accounts.
    """
    if not code:
        raise OAuthError("Facebook did not send an authorisation code. Please connect again.")
    try:
        short = client.exchange_code(code=code, redirect_uri=redirect_uri())
        long_lived = client.exchange_long_lived(token=short.access_token)
        pages = client.business_accounts(token=long_lived.access_token)
    except client.NotConfigured:
        raise OAuthError("Instagram is not configured on this server (META_APP_ID, META_APP_SECRET).") from None
    except ProviderError as error:
        logger.warning("instagram oauth exchange failed", extra={"workspace_id": workspace.pk, "error": error.message})
        raise OAuthError(f"Facebook did not complete the connection: {error.message}") from None
    if not pages:
        raise OAuthError(
            "None of the Facebook Pages you shared has an Instagram Business account linked. Link the Instagram "
            "account to a Page (Instagram app: Settings, Account type and tools) and connect again."
        )
    candidates = [
        Candidate(
            ig_user_id=page.ig_user_id,
            username=page.username,
            profile_picture_url=page.profile_picture_url,
            page_id=page.page_id,
            page_name=page.page_name,
        )
        for page in pages
    ]
    expires_at = (timezone.now() + timedelta(seconds=long_lived.expires_in)) if long_lived.expires_in else None
    session[SESSION_CANDIDATES_KEY] = {
        "workspace_id": workspace.pk,
        "created": time.time(),
        "token": crypto.encrypt(long_lived.access_token),
        "expires_at": expires_at.isoformat() if expires_at else None,
        "accounts": [asdict(candidate) for candidate in candidates],
    }
    return candidates


def oauth_candidates(*, session, workspace: Workspace) -> list[Candidate]:
    """The accounts waiting to be picked in this session for this workspace, or an empty list."""
    pending = session.get(SESSION_CANDIDATES_KEY)
    if not isinstance(pending, dict) or pending.get("workspace_id") != workspace.pk:
        return []
    if time.time() - float(pending.get("created") or 0) > CANDIDATES_MAX_AGE:
        session.pop(SESSION_CANDIDATES_KEY, None)
        return []
    try:
        return [Candidate(**account) for account in pending.get("accounts") or []]
    except TypeError:
        return []


@transaction.atomic
def accounts_connect(*, session, membership: Membership, ig_user_ids: list[str]) -> list[InstagramAccount]:
    """Adds (or reconnects) the picked accounts with the token from the callback; clears the session."""
    require_manager(membership)
    workspace = membership.workspace
    candidates = {c.ig_user_id: c for c in oauth_candidates(session=session, workspace=workspace)}
    if not candidates:
        raise ValidationError("The connection expired. Please connect again.")
    picked = [candidates[ig_id] for ig_id in ig_user_ids if ig_id in candidates]
    if not picked:
        raise ValidationError("Pick at least one account.")
    already = InstagramAccount.objects.filter(workspace=workspace, ig_user_id__in=[c.ig_user_id for c in picked])
    adding = len(picked) - already.exclude(status=AccountStatus.DISCONNECTED).count()
    limit_check(workspace=workspace, limit=Limit.INSTAGRAM_ACCOUNTS, adding=adding)
    pending = session[SESSION_CANDIDATES_KEY]
    token = crypto.decrypt(pending["token"])
    expires_at = datetime.fromisoformat(pending["expires_at"]) if pending.get("expires_at") else None
    now = timezone.now()
    accounts = []
    for candidate in picked:
        account, _ = InstagramAccount.objects.update_or_create(
            workspace=workspace,
            ig_user_id=candidate.ig_user_id,
            defaults={
                "username": candidate.username,
                "profile_picture_url": candidate.profile_picture_url,
                "page_id": candidate.page_id,
                "page_name": candidate.page_name,
                "access_token": token,
                "token_expires_at": expires_at,
                "token_refreshed_at": now,
                "status": AccountStatus.CONNECTED,
                "last_error": "",
            },
        )
        accounts.append(account)
    session.pop(SESSION_CANDIDATES_KEY, None)
    logger.info(
        "instagram accounts connected",
        extra={"workspace_id": workspace.pk, "accounts": [a.pk for a in accounts], "by": membership.user_id},
    )
    return accounts


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


def account_quota_read(*, account: InstagramAccount) -> client.Quota:
    """Reads the 24-hour publishing quota from Instagram and keeps it on the account."""
    quota = client.publishing_limit(ig_user_id=account.ig_user_id, token=account.access_token)
    total = quota.total or account.quota_total
    now = timezone.now()
    InstagramAccount.objects.filter(pk=account.pk).update(
        quota_total=total, quota_usage=quota.usage, quota_checked_at=now
    )
    account.quota_total, account.quota_usage, account.quota_checked_at = total, quota.usage, now
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


# Publishing ------------------------------------------------------------------------------------

# Waits between container status checks inside one run; then the run comes back later.
DEFAULT_POLL_DELAYS = (2.0, 4.0, 8.0)
# A container still processing after this long fails the run.
CONTAINER_PROCESSING_LIMIT = timedelta(minutes=10)
STILL_PROCESSING_COUNTDOWN = 60.0
MAX_COUNTDOWN = 3600.0


def _poll_delays() -> tuple[float, ...]:
    return tuple(getattr(settings, "INSTAGRAM_POLL_DELAYS", DEFAULT_POLL_DELAYS))


def _sleep(seconds: float) -> None:
    """Waits between status checks; a seam for tests (INSTAGRAM_POLL_DELAYS = () keeps them instant)."""
    if seconds > 0:
        time.sleep(seconds)


def _countdown(execution: CampaignExecution, error: ProviderError | None, base: float) -> float:
    """Exponential backoff over the run's attempts, or what Meta (or the open circuit) asked for."""
    backoff = min(base * 2 ** max(0, execution.attempts - 1), MAX_COUNTDOWN)
    asked = getattr(error, "retry_after", None) or 0.0
    return max(backoff, min(asked, MAX_COUNTDOWN))


class _Publisher:
    """Publishes one run to Instagram, resuming from what ``step.state`` says was already done.

    state keys: ``children`` (carousel item container ids), ``container_id``, ``container_created_at``,
    ``publish_requested_at``, ``comment_id``, ``comment_error``.
    """

    def __init__(self, *, execution: CampaignExecution, step: ExecutionStep, caption: str, account: InstagramAccount):
        self.execution = execution
        self.step = step
        self.caption = caption
        self.account = account
        self.campaign = execution.campaign
        self.attempt = PublishAttempt.objects.create(
            workspace_id=execution.workspace_id,
            execution=execution,
            account=account,
            container_id=step.state.get("container_id", ""),
            children_ids=step.state.get("children", []),
        )

    # The flow ---------------------------------------------------------------------------------

    def run(self) -> StepOutcome:
        try:
            outcome = self._run()
        except StepFailed as failure:
            self._attempt(status=AttemptStatus.FAILED, error_message=failure.message)
            raise
        except RetryLater as retry:
            self._attempt(status=AttemptStatus.RETRYING, error_message=retry.message)
            raise
        if self.attempt.status == AttemptStatus.STARTED:
            # A rerun that only finished the comment: the post was published by an earlier attempt.
            self._attempt(status=AttemptStatus.PUBLISHED, media_id=self.step.external_id)
        return outcome

    def _run(self) -> StepOutcome:
        if self.step.external_id:
            return self._after_publish(self.step.external_id)
        self._require_connected()
        container_id = self.step.state.get("container_id")
        if not container_id:
            self._check_quota()
            container_id = self._create_containers()
        status = self._await_finished([container_id])
        if status == client.PUBLISHED:
            # A publish whose answer was lost (timeout, dead worker): find the post, never publish again.
            media_id = self._find_published_media()
            if media_id is None:
                self._attempt(status=AttemptStatus.PUBLISHED, published_at=timezone.now())
                return StepOutcome(
                    detail=f"Instagram reports container {container_id} as published, but the post was not found "
                    f"among @{self.account.username}'s recent posts; it was not published again."
                )
        else:
            step_save_state(self.step, publish_requested_at=timezone.now().isoformat())
            media_id = self._graph(
                lambda: client.publish(
                    ig_user_id=self.account.ig_user_id, token=self.account.access_token, creation_id=container_id
                ),
                retry_base=30.0,
            )
        self._save_media(media_id)
        return self._after_publish(media_id)

    def _require_connected(self) -> None:
        if self.account.status != AccountStatus.CONNECTED or not self.account.access_token:
            reason = f" ({self.account.last_error})" if self.account.last_error else ""
            state = "was disconnected" if self.account.status == AccountStatus.DISCONNECTED else "needs reconnecting"
            raise StepFailed(
                f"The Instagram account @{self.account.username} {state}{reason}. "
                "Reconnect it on the Instagram accounts page, then run the campaign again.",
                category=ErrorCategory.AUTH,
            )

    def _check_quota(self) -> None:
        quota = self._graph(lambda: account_quota_read(account=self.account), retry_base=60.0)
        if quota.total and quota.usage >= quota.total:
            raise StepFailed(self._quota_message(quota.usage, quota.total), category=ErrorCategory.QUOTA)

    def _quota_message(self, usage: int | None = None, total: int | None = None) -> str:
        slot = next_publish_slot(account=self.account)
        if slot is None:
            when = "within 24 hours"
        else:
            zone = ZoneInfo(self.execution.workspace.timezone)
            when = f"at {timezone.localtime(slot, zone):%Y-%m-%d %H:%M %Z}"
        used = f" ({usage} of {total} posts in the last 24 hours)" if total else ""
        return f"Instagram publishing quota reached for @{self.account.username}{used}, next slot {when}."

    def _image_urls(self) -> list[str]:
        urls = [image.public_url for image in publishable_images(campaign=self.campaign)]
        if not urls:
            raise StepFailed("The campaign has no image to publish.", category=ErrorCategory.VALIDATION)
        return urls

    def _create_containers(self) -> str:
        urls = self._image_urls()
        ig_user_id, token = self.account.ig_user_id, self.account.access_token
        if len(urls) == 1:
            container_id = self._graph(
                lambda: client.create_image_container(
                    ig_user_id=ig_user_id, token=token, image_url=urls[0], caption=self.caption
                ),
                retry_base=30.0,
            )
        else:
            children = list(self.step.state.get("children", []))
            for url in urls[len(children) :]:
                child = self._graph(
                    lambda url=url: client.create_carousel_item(ig_user_id=ig_user_id, token=token, image_url=url),
                    retry_base=30.0,
                )
                children.append(child)
                step_save_state(self.step, children=children)
                self._attempt(children_ids=children)
            self._await_finished(children)
            container_id = self._graph(
                lambda: client.create_carousel(ig_user_id=ig_user_id, token=token, children=children, caption=self.caption),
                retry_base=30.0,
            )
        step_save_state(self.step, container_id=container_id, container_created_at=timezone.now().isoformat())
        self._attempt(container_id=container_id)
        return container_id

    def _await_finished(self, container_ids: list[str]) -> str:
        """Polls until every container is FINISHED (or PUBLISHED); a few short waits, then RetryLater."""
        pending = list(container_ids)
        delays = _poll_delays()
        published = False
        for round_ in range(len(delays) + 1):
            still = []
            for container_id in pending:
                status = self._graph(
                    lambda container_id=container_id: client.container_status(
                        container_id=container_id, token=self.account.access_token
                    ),
                    retry_base=30.0,
                )
                if status.code == client.ERROR:
                    raise StepFailed(status.error_message, category=ErrorCategory.PROVIDER)
                if status.code == client.EXPIRED:
                    raise StepFailed(
                        "The Instagram container expired before it was published (containers last 24 hours). "
                        "Run the campaign again.",
                        category=ErrorCategory.PROVIDER,
                    )
                if status.code == client.PUBLISHED:
                    published = True
                elif status.code != client.FINISHED:
                    still.append(container_id)
            pending = still
            if not pending:
                return client.PUBLISHED if published else client.FINISHED
            if round_ < len(delays):
                _sleep(delays[round_])
        started = _parse_iso(self.step.state.get("container_created_at")) or timezone.now()
        if timezone.now() - started > CONTAINER_PROCESSING_LIMIT:
            minutes = int(CONTAINER_PROCESSING_LIMIT.total_seconds() // 60)
            raise StepFailed(
                f"Instagram was still processing the media after {minutes} minutes; giving up.",
                category=ErrorCategory.TIMEOUT,
            )
        raise RetryLater("Instagram is still processing the media.", countdown=STILL_PROCESSING_COUNTDOWN)

    def _find_published_media(self) -> str | None:
        """The post a lost publish made: our caption, published after we asked, not claimed by another run."""
        asked = _parse_iso(self.step.state.get("publish_requested_at") or self.step.state.get("container_created_at"))
        not_before = (asked or timezone.now() - timedelta(days=1)) - timedelta(minutes=5)
        media = self._graph(
            lambda: client.recent_media(ig_user_id=self.account.ig_user_id, token=self.account.access_token),
            retry_base=30.0,
        )
        claimed = set(
            selectors.publish_steps(workspace_id=self.execution.workspace_id)
            .exclude(pk=self.step.pk)
            .exclude(external_id="")
            .values_list("external_id", flat=True)
        )
        matches = [
            item
            for item in media
            if item.id not in claimed
            and _same_text(item.caption, self.caption)
            and (item.timestamp is None or item.timestamp >= not_before)
        ]
        if not matches:
            return None
        # Oldest first: with the same caption twice, the earlier post is the one this run made.
        matches.sort(key=lambda item: item.timestamp or timezone.now())
        return matches[0].id

    def _save_media(self, media_id: str) -> None:
        """Records the post on the step at once, before anything else can fail."""
        step_record_result(self.step, external_id=media_id, outputs={"instagram_media_id": media_id})
        self._attempt(status=AttemptStatus.PUBLISHED, media_id=media_id, published_at=timezone.now())

    def _after_publish(self, media_id: str) -> StepOutcome:
        """The permalink and the first comment: the post is live, so failures here only add a note."""
        notes = []
        if not self.step.external_url and self.account.access_token:
            try:
                link = client.permalink(media_id=media_id, token=self.account.access_token)
            except client.TokenInvalid as error:
                account_mark_needs_reconnect(account=self.account, reason=error.message)
                link = ""
            except ProviderError as error:
                logger.warning("instagram permalink lookup failed", extra={"media_id": media_id, "error": error.message})
                link = ""
            if link:
                step_record_result(self.step, external_url=link, outputs={"instagram_permalink": link})
        comment = self.campaign.first_comment.strip()
        if comment and not self.step.state.get("comment_id"):
            notes.append(self._post_comment(media_id, comment))
        elif comment:
            notes.append("First comment posted.")
        where = self.step.external_url or f"media {media_id}"
        return StepOutcome(detail=" ".join([f"Published to @{self.account.username}: {where}.", *notes]).strip())

    def _post_comment(self, media_id: str, comment: str) -> str:
        if not self.account.can_publish or not self.account.access_token:
            return "The first comment was not posted: the account needs reconnecting."
        try:
            comment_id = client.post_comment(media_id=media_id, token=self.account.access_token, message=comment)
        except client.TokenInvalid as error:
            account_mark_needs_reconnect(account=self.account, reason=error.message)
            return f"The first comment was not posted: {error.message}"
        except ProviderError as error:
            if error.retryable:
                raise RetryLater(f"The first comment failed for now: {error.message}", countdown=_countdown(self.execution, error, 30.0))
            step_save_state(self.step, comment_error=error.message)
            return f"The first comment was not posted: {error.message}"
        step_save_state(self.step, comment_id=comment_id)
        return "First comment posted."

    # Errors and bookkeeping -------------------------------------------------------------------

    def _graph(self, call, *, retry_base: float):
        """Runs one Graph call, turning its errors into the engine's StepFailed and RetryLater."""
        try:
            return call()
        except client.TokenInvalid as error:
            self._attempt(error=error)
            account_mark_needs_reconnect(account=self.account, reason=error.message)
            raise StepFailed(
                f"@{self.account.username} needs reconnecting: {error.message}", category=ErrorCategory.AUTH
            ) from None
        except client.QuotaReached as error:
            self._attempt(error=error)
            raise StepFailed(self._quota_message(), category=ErrorCategory.QUOTA) from None
        except ProviderError as error:
            self._attempt(error=error)
            message = plain_message(error, "Instagram")
            if error.retryable:
                base = 120.0 if isinstance(error, client.RateLimited) else retry_base
                raise RetryLater(message, countdown=_countdown(self.execution, error, base)) from None
            raise StepFailed(message, category=ErrorCategory.PROVIDER) from None

    def _attempt(self, *, error: ProviderError | None = None, **fields) -> None:
        if error is not None:
            fields.update(
                error_code=getattr(error, "code", None),
                error_subcode=getattr(error, "subcode", None),
                error_message=error.message[:2000],
            )
        if "error_message" in fields:
            fields["error_message"] = fields["error_message"][:2000]
        for name, value in fields.items():
            setattr(self.attempt, name, value)
        PublishAttempt.objects.filter(pk=self.attempt.pk).update(updated_at=timezone.now(), **fields)


def execution_publish(*, execution: CampaignExecution, step: ExecutionStep, caption: str) -> StepOutcome:
    """The publish step of a run to one of its Instagram targets (see destination.py)."""
    account = InstagramAccount.objects.filter(pk=step.object_id, workspace_id=execution.workspace_id).first()
    if account is None:
        raise StepFailed(
            "The campaign's Instagram account is not one of this workspace's accounts.", category=ErrorCategory.VALIDATION
        )
    return _Publisher(execution=execution, step=step, caption=caption, account=account).run()


def _same_text(a: str, b: str) -> bool:
    """Captions compared as Instagram may return them: whitespace runs and line endings normalised."""
    return " ".join(a.split()) == " ".join(b.split())


def _parse_iso(value) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


# Insights --------------------------------------------------------------------------------------

MEDIA_INSIGHTS_DAYS = 30


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


def media_insights_pull(*, account: InstagramAccount, media_ids: list[str], day: date | None = None) -> int:
    """Pulls the lifetime metrics of the account's posts for ``day`` (today); stops at an invalid token."""
    day = day or timezone.now().date()
    pulled = 0
    for media_id in media_ids:
        try:
            values = client.media_insights(media_id=media_id, token=account.access_token)
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
    """Media insights for every post published to ``account`` in the last 30 days."""
    since = timezone.now() - timedelta(days=MEDIA_INSIGHTS_DAYS)
    media_ids = list(
        selectors.steps_published_to(account=account)
        .filter(Q(execution__finished_at__gte=since) | Q(execution__finished_at__isnull=True, execution__queued_at__gte=since))
        .values_list("external_id", flat=True)
        .distinct()
    )
    return media_insights_pull(account=account, media_ids=media_ids) if media_ids else 0


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
