"""Connecting Instagram accounts: Facebook Login's OAuth round trip and the choice of accounts.

The views call these; Graph details stay in ``client.py``.
"""

from __future__ import annotations

import logging
import secrets
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.crypto import constant_time_compare

from billing.plans import Limit
from billing.services import limit_check
from integrations import crypto
from integrations.http import ProviderError
from marketing.models import Membership, Workspace

from . import client
from .models import AccountStatus, InstagramAccount
from .services import require_manager

logger = logging.getLogger(__name__)

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
