"""HMAC-SHA256 signatures between us and n8n, both ways, with the workspace's callback secret.

Runs we hand to n8n carry ``"signature": "sha256=<hex>"`` inside the JSON body. It signs the
*canonical JSON* of every other field of the body: ``json.dumps(payload, sort_keys=True,
separators=(",", ":"), ensure_ascii=False)`` encoded as UTF-8 (keys sorted at every level, no
whitespace, non-ASCII characters as themselves). The payload holds only strings, integers,
booleans, lists and objects, never floats, so any language reproduces the same bytes; in
JavaScript that is ``JSON.stringify`` of the object with its keys sorted recursively.

Callbacks from n8n are signed over the raw request body, exactly as received, in the header
``X-Signature: sha256=<hex>``; the templates compute it with n8n's Crypto node (HMAC, SHA256,
hex) over the very string the HTTP Request node then sends.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

SIGNATURE_HEADER = "X-Signature"
PREFIX = "sha256="


def canonical_json(payload: Any) -> bytes:
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(secret: str, message: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(message) keyed with ``secret``."""
    return PREFIX + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def sign_payload(secret: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with its ``signature`` field, computed over the canonical JSON of the rest."""
    unsigned = {key: value for key, value in payload.items() if key != "signature"}
    return {**unsigned, "signature": sign(secret, canonical_json(unsigned))}


def verify(secret: str, message: bytes, signature: str | None) -> bool:
    """True if ``signature`` (``sha256=<hex>``, or the bare hex) is the message's HMAC by ``secret``."""
    if not secret or not signature:
        return False
    given = signature.strip().lower()
    if not given.startswith(PREFIX):
        given = PREFIX + given
    # Bytes, not str: compare_digest refuses non-ASCII strings, and a header may hold anything.
    return hmac.compare_digest(sign(secret, message).encode(), given.encode("utf-8", "replace"))
