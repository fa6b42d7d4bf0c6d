"""Signed webhooks that cannot be replayed, in the form Stripe uses.

A sender puts ``X-Signature: t=<unix seconds>,v1=<hex>`` on the request, where the hex is
HMAC-SHA256, keyed with the shared secret, of the bytes ``"<t>.<target>."`` followed by the raw
body. The target names what the request is for (a trigger's token, a run's id), so a body signed
for one target is refused for another. A timestamp more than ``TOLERANCE`` seconds away from our
clock is refused, and so is a signature already accepted within that time: a replay.

Several ``v1=`` entries may be given (a sender rotating its secret); one matching is enough.
In a shell::

    T=$(date +%s)
    SIG=$(printf '%s' "$T.$TARGET.$BODY" | openssl dgst -sha256 -hmac "$SECRET" | awk '{print $NF}')
    curl -H "X-Signature: t=$T,v1=$SIG" ...
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

logger = logging.getLogger(__name__)

HEADER = "X-Signature"
# Where WSGI puts that header; reading it there avoids request.headers copying every header.
META_KEY = "HTTP_X_SIGNATURE"
TOLERANCE = 300
# How long an accepted signature is remembered: past it, its timestamp is refused as expired.
REPLAY_SECONDS = TOLERANCE * 2
SCHEME = "v1"
FORMAT = "t=<unix seconds>,v1=<hex HMAC-SHA256 of “<t>.<target>.<raw body>”>"


class SignatureError(Exception):
    """A refused signature; ``code`` is missing, malformed, expired, mismatch or replayed."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Verified:
    """A signature that matched; ``consume`` it when the request is acted on."""

    digest: str


def signed_message(*, timestamp: int, target: str, body: bytes) -> bytes:
    return f"{timestamp}.{target}.".encode() + body


def sign(*, secret: str, target: str, body: bytes, timestamp: int | None = None) -> str:
    """The header value a sender puts on ``body`` for ``target``."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), signed_message(timestamp=timestamp, target=target, body=body), hashlib.sha256)
    return f"t={timestamp},{SCHEME}={mac.hexdigest()}"


def verify(*, secret: str, target: str, body: bytes, header: str | None, now: float | None = None) -> Verified:
    """Checks the header's form, its timestamp and its HMAC; raises SignatureError otherwise.
    Replays are checked by ``consume``."""
    if not header or not header.strip():
        raise SignatureError("missing", f"A {HEADER} header is required: {FORMAT}.")
    timestamp, candidates = _parse(header)
    now = time.time() if now is None else now
    if abs(now - timestamp) > TOLERANCE:
        raise SignatureError(
            "expired", f"The {HEADER} timestamp is more than {TOLERANCE // 60} minutes from our clock; sign the request as you send it."
        )
    expected = hmac.new(
        secret.encode(), signed_message(timestamp=timestamp, target=target, body=body), hashlib.sha256
    ).hexdigest()
    for candidate in candidates:
        # Bytes: compare_digest refuses non-ASCII text, and a header may hold anything.
        if hmac.compare_digest(expected.encode(), candidate.encode("utf-8", "replace")):
            return Verified(digest=hashlib.sha256(f"{target}:{timestamp}:{expected}".encode()).hexdigest())
    raise SignatureError("mismatch", f"The {HEADER} header does not match the request: {FORMAT}.")


def _parse(header: str) -> tuple[int, list[str]]:
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isascii() and value.isdigit() and len(value) <= 12:
            timestamp = int(value)
        elif name == SCHEME and value:
            candidates.append(value.strip().lower())
    if timestamp is None or not candidates:
        raise SignatureError("malformed", f"The {HEADER} header must read {FORMAT}.")
    return timestamp, candidates


# Replays -----------------------------------------------------------------------------------------


def consume(verified: Verified) -> None:
    """Records the signature as used; raises SignatureError("replayed") if it already was.

    Redis holds the record when there is one (one round trip); without Redis, or while it is
    down, the database does.
    """
    if settings.REDIS_URL:
        try:
            if _redis().set(replay_key(verified), b"1", nx=True, ex=REPLAY_SECONDS):
                return
        except Exception:  # noqa: BLE001 - Redis down: the database keeps the record instead
            logger.warning("webhook replay record in Redis unavailable; using the database", exc_info=True)
        else:
            raise replayed()
    from marketing.models import WebhookReceipt

    try:
        with transaction.atomic():
            WebhookReceipt.objects.create(digest=verified.digest, expires_at=timezone.now() + timedelta(seconds=REPLAY_SECONDS))
    except IntegrityError:
        raise replayed() from None


def release(verified: Verified) -> None:
    """Forgets a consumed signature whose request could not be acted on, so the sender may retry it."""
    from marketing.models import WebhookReceipt

    if settings.REDIS_URL:
        try:
            _redis().delete(replay_key(verified))
        except Exception:  # noqa: BLE001
            logger.warning("webhook replay record in Redis unavailable", exc_info=True)
    WebhookReceipt.objects.filter(digest=verified.digest).delete()


def prune() -> int:
    from marketing.models import WebhookReceipt

    deleted, _ = WebhookReceipt.objects.filter(expires_at__lt=timezone.now()).delete()
    return deleted


def replayed() -> SignatureError:
    return SignatureError("replayed", "This signed request was already received; a replay is refused. Sign each request anew.")


def _redis():
    from marketing.redis_client import client

    return client(settings.REDIS_URL)


def replay_key(verified: Verified) -> str:
    """The Redis key that records ``verified`` as used: set (NX, REPLAY_SECONDS) by ``consume``,
    or by a script that records it in the same round trip as its own work."""
    return f"webhook-signature:{verified.digest}"
