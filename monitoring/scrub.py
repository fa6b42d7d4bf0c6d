"""Removes secrets from what an error sample or a Sentry event carries.

A value is replaced when its key looks like it names a secret (password, token, cookie,
authorization, api key, signature, session, csrf...), and secrets inside strings (a bearer
token, ``access_token=`` in a URL, a DSN's password) are cut out wherever they appear.
"""

from __future__ import annotations

import re
from typing import Any

from marketing.logging import redact

FILTERED = "[Filtered]"

SECRET_KEY_RE = re.compile(
    r"pass(word|wd)?|secret|token|auth|cookie|session|csrf|api[-_]?key|signature|credential|private|dsn|"
    r"card|cvc|iban|x-n8n-api-key|stripe-signature|x-signature",
    re.IGNORECASE,
)
_INLINE_RES = (
    # Authorization: Bearer <token>, Basic <credentials>
    (re.compile(r"\b(Bearer|Basic|Token)\s+[A-Za-z0-9._~+/=-]+", re.IGNORECASE), r"\1 " + FILTERED),
    # key=value pairs in query strings, form bodies and messages
    (
        re.compile(
            r"((?:access_token|refresh_token|fb_exchange_token|client_secret|api_key|apikey|token|password|secret|"
            r"code|signature|sig)=)[^&\s'\"]+",
            re.IGNORECASE,
        ),
        r"\1" + FILTERED,
    ),
    # scheme://user:password@host
    (re.compile(r"(://[^/\s:@]+:)[^@\s/]+@"), r"\1" + FILTERED + "@"),
    # "password": "..." in JSON text
    (re.compile(r"(\"[^\"]*(?:password|secret|token)[^\"]*\"\s*:\s*)\"[^\"]*\"", re.IGNORECASE), r'\1"' + FILTERED + '"'),
)
MAX_DEPTH = 6
MAX_ITEMS = 50
MAX_STRING = 1000


def is_secret_key(key: object) -> bool:
    return isinstance(key, str) and bool(SECRET_KEY_RE.search(key))


def scrub_text(text: str) -> str:
    for pattern, replacement in _INLINE_RES:
        text = pattern.sub(replacement, text)
    # Secret URL paths (trigger tokens, invitation and reset keys), as the log lines redact them.
    return redact(text)


def scrub(value: Any, *, depth: int = 0, limit: bool = True) -> Any:
    """A copy of ``value`` (dicts, lists, strings, numbers) with secrets replaced by ``[Filtered]``.

    With ``limit``, long strings and collections are cut, so a sample stays small.
    """
    if limit and depth > MAX_DEPTH:
        return "…"
    if isinstance(value, dict):
        items = list(value.items())
        if limit:
            items = items[:MAX_ITEMS]
        return {
            key: FILTERED if is_secret_key(key) and item not in (None, "") else scrub(item, depth=depth + 1, limit=limit)
            for key, item in items
        }
    if isinstance(value, list | tuple):
        items = list(value)[:MAX_ITEMS] if limit else list(value)
        return [scrub(item, depth=depth + 1, limit=limit) for item in items]
    if isinstance(value, str):
        text = scrub_text(value)
        return text[:MAX_STRING] + "…" if limit and len(text) > MAX_STRING else text
    if value is None or isinstance(value, bool | int | float):
        return value
    return scrub(_safe_repr(value), depth=depth, limit=limit)


def _safe_repr(value: object) -> str:
    """A name for an object without calling its ``__repr__``, which may query the database
    (a QuerySet, a model's ``__str__``) inside a transaction that has just failed."""
    pk = getattr(value, "pk", None)
    if isinstance(pk, int | str):
        return f"<{type(value).__name__} pk={pk}>"
    return f"<{type(value).__name__}>"


def sentry_before_send(event: dict, hint: dict) -> dict:
    """Sentry's before_send: the same scrubbing as our own samples, on the whole event."""
    return scrub(event, limit=False)
