"""A webhook's JSON body, parsed into what PostgreSQL's jsonb (and any later reader) can hold.

Refused, each with a message for the sender: bytes that are not UTF-8 JSON, NaN and Infinity
(not JSON, and jsonb refuses them), numbers too large for a float, ``\\u0000`` (jsonb cannot
store it), lone surrogates such as ``"\\ud800"`` (not Unicode text; the database driver cannot
encode them), nesting deeper than ``max_depth`` and bodies over ``max_bytes``.
"""

from __future__ import annotations

import json
from typing import Any

DEFAULT_MAX_BYTES = 256 * 1024
DEFAULT_MAX_DEPTH = 64


class PayloadError(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    number = float(text)
    if number in (float("inf"), float("-inf")):
        raise ValueError(f"the number {text[:40]} is too large")
    return number


# One decoder for every body: json.loads with options builds one per call.
_DECODER = json.JSONDecoder(parse_constant=_no_constant, parse_float=_finite_float)


def _loads(body: bytes | str) -> Any:
    """``json.loads(body, parse_constant=_no_constant, parse_float=_finite_float)``, with the kept decoder."""
    if isinstance(body, str):
        if body.startswith("\ufeff"):
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", body, 0)
        return _DECODER.decode(body)
    # As json.loads reads bytes: UTF-8, -16 or -32 by their look, surrogates let through.
    return _DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))


def parse(body: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES, max_depth: int = DEFAULT_MAX_DEPTH) -> Any:
    """The JSON value in ``body``; PayloadError when it is not JSON that can be stored."""
    if len(body) > max_bytes:
        raise PayloadError(f"The body is larger than {max_bytes // 1024} KB.")
    try:
        value = _loads(body)
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise PayloadError(f"The body is not valid JSON: {str(error)[:200]}") from None
    if not _plainly_storable(body, max_depth=max_depth):
        check_storable(value, max_depth=max_depth)
    return value


def _plainly_storable(body: bytes, *, max_depth: int) -> bool:
    """True when the raw body cannot hold what ``check_storable`` looks for, which spares walking
    the value: ``\\u0000`` and lone surrogates come as ``\\u`` escapes (or, for surrogates, as
    bytes starting 0xED, which json.loads lets through), and no value nests deeper than the body
    has brackets. UTF-16 and UTF-32 bodies hold NUL bytes, so they are walked."""
    return (
        b"\\u" not in body
        and b"\xed" not in body
        and b"\x00" not in body
        and body.count(b"{") + body.count(b"[") < max_depth
    )


def check_storable(value: Any, *, max_depth: int = DEFAULT_MAX_DEPTH) -> None:
    """Walks ``value`` without recursion; PayloadError at the first thing jsonb could not store."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            raise PayloadError(f"The JSON nests deeper than {max_depth} levels.")
        if isinstance(item, str):
            _check_text(item)
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_text(key)
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


def _check_text(text: str) -> None:
    if "\x00" in text:
        raise PayloadError("The JSON holds a \\u0000 character, which cannot be stored.")
    try:
        text.encode()
    except UnicodeEncodeError:
        raise PayloadError("The JSON holds a lone surrogate (like \\ud800), which is not Unicode text.") from None
