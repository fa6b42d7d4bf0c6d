"""HMAC-SHA256 signatures between us and n8n, both ways, with the workspace's callback secret.

Runs we hand to n8n carry ``"signature": "sha256=<hex>"`` inside the JSON body. It signs the
*canonical JSON* of every other field of the body: ``json.dumps(payload, sort_keys=True,
separators=(",", ":"), ensure_ascii=False)`` encoded as UTF-8 (keys sorted at every level, no
whitespace, non-ASCII characters as themselves). The payload holds only strings, integers,
booleans, lists and objects, never floats, so any language reproduces the same bytes; in
JavaScript that is ``JSON.stringify`` of the object with its keys sorted recursively.

Callbacks from n8n are checked by marketing.webhooks.signature: ``X-Signature: t=<unix
seconds>,v1=<hex>``, HMAC-SHA256 of ``"<t>.<run id>.<raw body>"``; the templates compute it with
n8n's Crypto node (HMAC, SHA256, hex) over that string, with the very body the HTTP Request node
then sends.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

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
