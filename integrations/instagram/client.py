"""The Instagram Graph API (Instagram API with Facebook Login): the only code that knows its URLs and payloads.

Every call goes through ``integrations.http.request`` with provider "instagram", against
``settings.INSTAGRAM_GRAPH_URL``. Graph's error codes are mapped to exceptions here, and only
here (``_graph_error``):

- 4, 17, 32, 613, 80002 (rate limits) -> RateLimited, retryable: try again later, not in a loop;
- 9007 (media not ready to publish) -> NotReady, retryable;
- 190 (token invalid or expired) and 102 (session invalid) -> TokenInvalid: the account needs reconnecting;
- 9004 or subcode 2207052 (Meta could not fetch the image) -> MediaFetchFailed, naming PUBLIC_BASE_URL;
- 9 with subcode 2207042 (24-hour publishing limit) -> QuotaReached;
- 10 on insights ("not enough viewers") -> NoInsights, which the insight calls turn into no data;
- 1, 2 or ``is_transient`` (Meta's own transient failures) -> GraphError, retryable;
- anything else -> GraphError with Meta's message, final.

Tokens travel as the ``access_token`` query parameter; the HTTP layer strips query strings from
its log lines and messages, and nothing here logs them.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from django.conf import settings

from integrations import http
from integrations.http import ProviderError

PROVIDER = "instagram"
DEFAULT_API_VERSION = "v23.0"
DIALOG_HOST = "https://www.facebook.com"
SCOPES = (
    "instagram_basic",
    "instagram_content_publish",
    "instagram_manage_insights",
    "instagram_manage_comments",
    "pages_show_list",
    "pages_read_engagement",
    "business_management",
)

RATE_LIMIT_CODES = frozenset({4, 17, 32, 613, 80002})
NOT_READY_CODE = 9007
TOKEN_CODES = frozenset({190, 102})
MEDIA_FETCH_CODE = 9004
MEDIA_FETCH_SUBCODE = 2207052
QUOTA_SUBCODE = 2207042
NO_INSIGHTS_CODE = 10
TRANSIENT_CODES = frozenset({1, 2})

# Container status codes (GET /{container-id}?fields=status_code).
IN_PROGRESS, FINISHED, ERROR, EXPIRED, PUBLISHED = "IN_PROGRESS", "FINISHED", "ERROR", "EXPIRED", "PUBLISHED"

MEDIA_METRICS = ("views", "reach", "likes", "comments", "shares", "saved", "total_interactions")
# A story has no likes, comments or saves: asking for them refuses the whole call.
STORY_METRICS = ("views", "reach", "shares", "total_interactions")
ACCOUNT_METRICS = ("views", "reach", "accounts_engaged", "total_interactions", "likes", "comments", "shares", "saves")
MAX_PAGES = 10  # of /me/accounts, 25 Pages each


class NotConfigured(Exception):
    """META_APP_ID or META_APP_SECRET is missing."""


class GraphError(ProviderError):
    """The Graph API refused a call; ``code``/``subcode`` are Meta's, ``message`` is safe to show."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        subcode: int | None = None,
        fbtrace_id: str = "",
        retryable: bool = False,
        status: int | None = None,
        retry_after: float | None = None,
        outcome: str = "client_error",
    ) -> None:
        super().__init__(
            message, provider=PROVIDER, retryable=retryable, status=status, retry_after=retry_after, outcome=outcome
        )
        self.code = code
        self.subcode = subcode
        self.fbtrace_id = fbtrace_id


class RateLimited(GraphError):
    pass


class NotReady(GraphError):
    pass


class TokenInvalid(GraphError):
    pass


class MediaFetchFailed(GraphError):
    pass


class QuotaReached(GraphError):
    pass


class NoInsights(GraphError):
    pass


def media_fetch_message(detail: str = "") -> str:
    """Why Meta could not download our image, and what to change."""
    message = (
        f"Instagram could not download the image from {settings.PUBLIC_BASE_URL}. The image URL must be reachable "
        "from the internet: set PUBLIC_BASE_URL to this site's public https address."
    )
    return f"{message} (Meta: {detail})" if detail else message


@dataclass(frozen=True)
class Token:
    access_token: str
    expires_in: int | None  # seconds; None when Meta gives no expiry

    def __repr__(self) -> str:  # never print the secret, even in a traceback's locals
        return f"Token(expires_in={self.expires_in})"


@dataclass(frozen=True)
class PageAccount:
    """A Facebook Page the user manages, with its Instagram Business account."""

    page_id: str
    page_name: str
    ig_user_id: str
    username: str
    profile_picture_url: str


@dataclass(frozen=True)
class Quota:
    usage: int
    total: int
    duration: int  # seconds


@dataclass(frozen=True)
class ContainerStatus:
    code: str
    detail: str

    @property
    def error_message(self) -> str:
        """Why a container ended in ERROR, from the ``status`` field (which carries the subcode)."""
        if str(MEDIA_FETCH_SUBCODE) in self.detail or str(MEDIA_FETCH_CODE) in self.detail:
            return media_fetch_message(self.detail)
        return f"Instagram could not process the media: {self.detail or 'no reason given'}."


@dataclass(frozen=True)
class Media:
    id: str
    caption: str
    timestamp: datetime | None
    permalink: str


# Configuration ---------------------------------------------------------------------------------


def is_configured() -> bool:
    return bool(settings.META_APP_ID and settings.META_APP_SECRET)


def api_version() -> str:
    match = re.search(r"/(v\d+\.\d+)/?$", settings.INSTAGRAM_GRAPH_URL)
    return match.group(1) if match else DEFAULT_API_VERSION


def dialog_url(*, redirect_uri: str, state: str) -> str:
    """Facebook Login for Business: where the browser goes to grant us access."""
    if not settings.META_APP_ID:
        raise NotConfigured("META_APP_ID is not set.")
    query = urlencode(
        {
            "client_id": settings.META_APP_ID,
            "redirect_uri": redirect_uri,
            "state": state,
            "response_type": "code",
            "scope": ",".join(SCOPES),
        }
    )
    return f"{DIALOG_HOST}/{api_version()}/dialog/oauth?{query}"


# Tokens ----------------------------------------------------------------------------------------


def exchange_code(*, code: str, redirect_uri: str) -> Token:
    """The dialog's code for a short-lived user token."""
    _require_secret()
    body = _call(
        "GET",
        "oauth/access_token",
        params={
            "client_id": settings.META_APP_ID,
            "client_secret": settings.META_APP_SECRET,
            "redirect_uri": redirect_uri,
            "code": code,
        },
    )
    return _token(body)


def exchange_long_lived(*, token: str) -> Token:
    """A short-lived (or a long-lived, to refresh it) user token for a long-lived one, about 60 days."""
    _require_secret()
    body = _call(
        "GET",
        "oauth/access_token",
        params={
            "grant_type": "fb_exchange_token",
            "client_id": settings.META_APP_ID,
            "client_secret": settings.META_APP_SECRET,
            "fb_exchange_token": token,
        },
    )
    return _token(body)


def business_accounts(*, token: str) -> list[PageAccount]:
    """The user's Pages that have an Instagram Business account linked."""
    found: list[PageAccount] = []
    params: dict[str, Any] = {"fields": "id,name,instagram_business_account{id,username,profile_picture_url}", "limit": 25}
    for _ in range(MAX_PAGES):
        body = _call("GET", "me/accounts", token=token, params=params)
        for page in body.get("data") or []:
            ig = page.get("instagram_business_account") or {}
            if not ig.get("id"):
                continue
            found.append(
                PageAccount(
                    page_id=str(page.get("id", "")),
                    page_name=str(page.get("name", ""))[:200],
                    ig_user_id=str(ig["id"]),
                    username=str(ig.get("username") or ig["id"])[:100],
                    profile_picture_url=str(ig.get("profile_picture_url") or "")[:1000],
                )
            )
        after = ((body.get("paging") or {}).get("cursors") or {}).get("after")
        if not after or not (body.get("paging") or {}).get("next"):
            break
        params = {**params, "after": after}
    return found


# Publishing ------------------------------------------------------------------------------------


def publishing_limit(*, ig_user_id: str, token: str) -> Quota:
    body = _call("GET", f"{ig_user_id}/content_publishing_limit", token=token, params={"fields": "config,quota_usage"})
    entry = (body.get("data") or [{}])[0]
    config = entry.get("config") or {}
    return Quota(
        usage=int(entry.get("quota_usage") or 0),
        total=int(config.get("quota_total") or 0),
        duration=int(config.get("quota_duration") or 86400),
    )


def create_image_container(
    *, ig_user_id: str, token: str, image_url: str, caption: str | None = None, alt_text: str = ""
) -> str:
    """A container for a single-image post, with its caption and alt text."""
    data = {"image_url": image_url}
    if caption:
        data["caption"] = caption
    if alt_text:
        data["alt_text"] = alt_text
    return _id(_call("POST", f"{ig_user_id}/media", token=token, data=data))


def create_carousel_item(*, ig_user_id: str, token: str, image_url: str, alt_text: str = "") -> str:
    data = {"image_url": image_url, "is_carousel_item": "true"}
    if alt_text:
        data["alt_text"] = alt_text
    return _id(_call("POST", f"{ig_user_id}/media", token=token, data=data))


def create_story_container(*, ig_user_id: str, token: str, image_url: str) -> str:
    """A container for an image story: a story has no caption, and takes no alt text."""
    return _id(_call("POST", f"{ig_user_id}/media", token=token, data={"media_type": "STORIES", "image_url": image_url}))


def create_carousel(*, ig_user_id: str, token: str, children: list[str], caption: str | None = None) -> str:
    data = {"media_type": "CAROUSEL", "children": ",".join(children)}
    if caption:
        data["caption"] = caption
    return _id(_call("POST", f"{ig_user_id}/media", token=token, data=data))


def container_status(*, container_id: str, token: str) -> ContainerStatus:
    body = _call("GET", container_id, token=token, params={"fields": "status_code,status"})
    return ContainerStatus(code=str(body.get("status_code") or ""), detail=str(body.get("status") or ""))


def publish(*, ig_user_id: str, token: str, creation_id: str) -> str:
    """Publishes a FINISHED container; returns the new media id. Not idempotent: never retried here."""
    return _id(_call("POST", f"{ig_user_id}/media_publish", token=token, data={"creation_id": creation_id}))


def permalink(*, media_id: str, token: str) -> str:
    return str(_call("GET", media_id, token=token, params={"fields": "permalink"}).get("permalink") or "")


def recent_media(*, ig_user_id: str, token: str, limit: int = 25, stories: bool = False) -> list[Media]:
    """The account's newest posts (or its live stories, from the last 24 hours), newest first."""
    body = _call(
        "GET",
        f"{ig_user_id}/{'stories' if stories else 'media'}",
        token=token,
        params={"fields": "id,caption,timestamp,permalink", "limit": limit},
    )
    return [
        Media(
            id=str(item["id"]),
            caption=str(item.get("caption") or ""),
            timestamp=_parse_time(item.get("timestamp")),
            permalink=str(item.get("permalink") or ""),
        )
        for item in body.get("data") or []
        if item.get("id")
    ]


def post_comment(*, media_id: str, token: str, message: str) -> str:
    return _id(_call("POST", f"{media_id}/comments", token=token, data={"message": message}))


# Insights --------------------------------------------------------------------------------------


def media_insights(*, media_id: str, token: str, metrics: tuple[str, ...] = MEDIA_METRICS) -> dict[str, int | None]:
    """Lifetime totals of a post; a metric Instagram has no data for is None."""
    try:
        body = _call("GET", f"{media_id}/insights", token=token, params={"metric": ",".join(metrics)})
    except NoInsights:
        return dict.fromkeys(metrics)
    return _metric_values(body, metrics)


def account_insights(
    *, ig_user_id: str, token: str, since: datetime, until: datetime, metrics: tuple[str, ...] = ACCOUNT_METRICS
) -> dict[str, int | None]:
    """An account's totals between ``since`` and ``until``; a metric without data is None."""
    try:
        body = _call(
            "GET",
            f"{ig_user_id}/insights",
            token=token,
            params={
                "metric": ",".join(metrics),
                "period": "day",
                "metric_type": "total_value",
                "since": int(since.timestamp()),
                "until": int(until.timestamp()),
            },
        )
    except NoInsights:
        return dict.fromkeys(metrics)
    return _metric_values(body, metrics)


def account_profile(*, ig_user_id: str, token: str) -> dict[str, Any]:
    """username, profile_picture_url, followers_count and media_count of the account."""
    return _call(
        "GET", ig_user_id, token=token, params={"fields": "username,profile_picture_url,followers_count,media_count"}
    )


# Plumbing --------------------------------------------------------------------------------------


def _call(
    method: str, path: str, *, token: str | None = None, params: dict | None = None, data: dict | None = None
) -> dict[str, Any]:
    params = dict(params or {})
    if token is not None:
        params["access_token"] = token
        if settings.META_APP_SECRET:
            params["appsecret_proof"] = hmac.new(
                settings.META_APP_SECRET.encode(), token.encode(), hashlib.sha256
            ).hexdigest()
    url = f"{settings.INSTAGRAM_GRAPH_URL}/{path.lstrip('/')}"
    try:
        response = http.request(PROVIDER, method, url, params=params, data=data)
    except ProviderError as error:
        raise _graph_error(error) from None
    try:
        body = response.json()
    except ValueError:
        raise GraphError("Instagram answered with something that is not JSON.", retryable=True) from None
    if not isinstance(body, dict):
        raise GraphError("Instagram answered with an unexpected payload.")
    return body


def _graph_error(error: ProviderError) -> ProviderError:
    """The one mapping from Meta's error body to what our code does about it."""
    if isinstance(error, GraphError) or error.response is None:
        return error  # a timeout, a refused connection, an open circuit: retryable as the HTTP layer said
    try:
        payload = error.response.json().get("error") or {}
    except (ValueError, AttributeError):
        payload = {}
    if not isinstance(payload, dict) or not payload:
        return error
    code = _int(payload.get("code"))
    subcode = _int(payload.get("error_subcode"))
    meta_message = str(payload.get("error_user_msg") or payload.get("message") or "no message").strip()
    common = {
        "code": code,
        "subcode": subcode,
        "fbtrace_id": str(payload.get("fbtrace_id") or ""),
        "status": error.status,
        "retry_after": error.retry_after,
        "outcome": error.outcome,
    }
    if code in RATE_LIMIT_CODES:
        return RateLimited(f"Instagram rate limit reached (code {code}): {meta_message}", retryable=True, **common)
    if code == NOT_READY_CODE:
        return NotReady(f"Instagram is not ready to publish the media yet: {meta_message}", retryable=True, **common)
    if code in TOKEN_CODES:
        return TokenInvalid(f"Instagram refused the account's access token: {meta_message}", **common)
    if code == MEDIA_FETCH_CODE or subcode == MEDIA_FETCH_SUBCODE:
        return MediaFetchFailed(media_fetch_message(meta_message), **common)
    if subcode == QUOTA_SUBCODE:
        return QuotaReached(f"Instagram's publishing limit is reached: {meta_message}", **common)
    if code == NO_INSIGHTS_CODE:
        return NoInsights(f"Instagram has no insights for this yet: {meta_message}", **common)
    transient = code in TRANSIENT_CODES or bool(payload.get("is_transient")) or error.retryable
    return GraphError(f"Instagram: {meta_message}", retryable=transient, **common)


def _metric_values(body: dict[str, Any], metrics: tuple[str, ...]) -> dict[str, int | None]:
    values: dict[str, int | None] = dict.fromkeys(metrics)
    for entry in body.get("data") or []:
        name = entry.get("name")
        if name not in values:
            continue
        total = entry.get("total_value")
        if isinstance(total, dict) and "value" in total:
            values[name] = _int(total["value"])
            continue
        series = entry.get("values") or []
        if series:
            values[name] = _int(series[-1].get("value"))
    return values


def _id(body: dict[str, Any]) -> str:
    if not body.get("id"):
        raise GraphError("Instagram answered without an id.")
    return str(body["id"])


def _token(body: dict[str, Any]) -> Token:
    token = body.get("access_token")
    if not token:
        raise GraphError("Instagram did not return an access token.")
    expires_in = _int(body.get("expires_in"))
    return Token(access_token=str(token), expires_in=expires_in or None)


def _require_secret() -> None:
    if not is_configured():
        raise NotConfigured("META_APP_ID and META_APP_SECRET must be set.")


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _parse_time(value: Any) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.strptime(str(value), "%Y-%m-%dT%H:%M:%S%z")
    except ValueError:
        return None
