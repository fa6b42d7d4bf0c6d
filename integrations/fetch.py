"""Fetching a URL a workspace typed in (a feed, a WordPress site, an image to import), with the
guards user input needs, under the content sources' settings (``CMS_*``) and circuits.

Every hop of a redirect goes through the private-network guard, the body is read up to a size
limit, and a watchdog ends a download that takes longer than the deadline however slowly the
server drips bytes. Failures are ``FetchError`` with a sentence a marketer can act on.
All HTTP goes through ``integrations.http``, under a circuit per host.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

from django.conf import settings

from integrations import http

PROVIDER = "cms"
MAX_REDIRECTS = 5
REDIRECTS = frozenset({301, 302, 303, 307, 308})
CHUNK = 64 * 1024


class FetchError(Exception):
    """The URL could not be fetched; ``message`` says why, ``retryable`` whether later may help."""

    def __init__(self, message: str, *, retryable: bool = False, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.status = status


@dataclass(frozen=True)
class Fetched:
    status: int  # 200, or 304 when the conditional GET found nothing new
    body: bytes
    url: str  # after redirects
    content_type: str = ""
    etag: str = ""
    last_modified: str = ""
    headers: dict[str, str] | None = None

    @property
    def not_modified(self) -> bool:
        return self.status == 304


def check_url(url: str) -> str | None:
    """Why ``url`` cannot be fetched for a workspace, or None."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        return "Enter an http:// or https:// URL."
    if parts.username or parts.password:
        return "Put no user name or password in the URL."
    return http.private_host_problem(url)


def max_bytes() -> int:
    return settings.CMS_MAX_FEED_BYTES


def get(
    url: str,
    *,
    etag: str = "",
    last_modified: str = "",
    headers: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
    params: dict[str, Any] | None = None,
    limit: int | None = None,
) -> Fetched:
    """GET ``url`` with a conditional request when ``etag``/``last_modified`` are known.

    Raises FetchError: a refused address, a redirect loop or more than MAX_REDIRECTS hops, a
    body over ``limit`` bytes (CMS_MAX_FEED_BYTES by default), a download over
    CMS_FETCH_DEADLINE seconds, an HTTP error or a network failure.
    """
    limit = limit or max_bytes()
    sent = dict(headers or {})
    sent.setdefault("User-Agent", settings.CMS_USER_AGENT)
    if etag:
        sent["If-None-Match"] = etag
    if last_modified:
        sent["If-Modified-Since"] = last_modified
    seen: list[str] = []
    current = url
    for _ in range(MAX_REDIRECTS + 1):
        if problem := check_url(current):
            raise FetchError(problem if not seen else f"It redirects to {http._safe_url(current)}: {problem}")
        seen.append(current)
        response = _request(current, sent, auth=auth if len(seen) == 1 else None, params=params if len(seen) == 1 else None)
        if response.status_code in REDIRECTS:
            location = response.headers.get("Location", "")
            response.close()
            if not location:
                raise FetchError(f"The server answered HTTP {response.status_code} without saying where to go.")
            current = urljoin(current, location)
            if current in seen:
                raise FetchError("The URL redirects in a loop; open it in a browser to see where it goes.")
            continue
        if response.status_code == 304:
            response.content  # empty: reading it hands the connection back to the pool for the next poll
            return Fetched(status=304, body=b"", url=current, etag=etag, last_modified=last_modified)
        body = _read(response, limit=limit)
        return Fetched(
            status=response.status_code,
            body=body,
            url=current,
            content_type=response.headers.get("Content-Type", ""),
            etag=response.headers.get("ETag", "")[:500],
            last_modified=response.headers.get("Last-Modified", "")[:100],
            headers=dict(response.headers),
        )
    raise FetchError(f"The URL redirects more than {MAX_REDIRECTS} times; give the final address instead.")


def _request(url: str, headers: dict[str, str], *, auth: tuple[str, str] | None, params: dict | None):
    host = urlsplit(url).hostname or ""
    try:
        return http.request(
            PROVIDER,
            "GET",
            url,
            headers=headers,
            auth=auth,
            params=params,
            stream=True,
            allow_redirects=False,
            # Polling comes back on its own schedule with backoff: no retries held in a worker.
            retries=0,
            timeout=(settings.CMS_CONNECT_TIMEOUT, settings.CMS_READ_TIMEOUT),
            accept=REDIRECTS | {304},
            breaker=f"{PROVIDER}:{host}",
            workspace_url=True,
        )
    except http.CircuitOpenError as error:
        raise FetchError(
            f"{host} failed several times in a row; the next try is in {error.retry_after or 0:.0f} s.", retryable=True
        ) from None
    except http.ProviderError as error:
        raise FetchError(_describe(error), retryable=error.retryable, status=error.status) from None


def _describe(error: http.ProviderError) -> str:
    if error.status is not None:
        reason = {401: "asks for a login", 403: "refuses access", 404: "has no page at this address", 410: "is gone"}.get(
            error.status, "failed"
        )
        return f"The server answered HTTP {error.status}: it {reason}."
    if error.outcome == "private_address":
        return error.message.split(": ", 1)[-1]
    if error.outcome == "timeout":
        return f"The server did not answer within {settings.CMS_READ_TIMEOUT:.0f} s."
    if error.outcome == "connection_error":
        return "Could not connect to the server (it may be down, or the name may be wrong)."
    return f"The request failed: {error.message.split(': ', 1)[-1]}"


def _read(response, *, limit: int) -> bytes:
    """The body, at most ``limit`` bytes after decompression, within CMS_FETCH_DEADLINE seconds."""
    deadline = settings.CMS_FETCH_DEADLINE
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        response.close()
        raise FetchError(f"The response is {_mb(int(declared))}; the limit is {_mb(limit)}.")
    # A read blocks until its chunk is full: a server sending a byte now and then would hold the
    # worker for hours within the read timeout. Shutting the socket down ends the read at once.
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        response.raw.shutdown()

    watchdog = threading.Timer(deadline, expire)
    watchdog.daemon = True
    watchdog.start()
    started = time.monotonic()
    parts: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(CHUNK):
            size += len(chunk)
            if size > limit:
                raise FetchError(f"The response is larger than {_mb(limit)}, the limit.")
            parts.append(chunk)
            if time.monotonic() - started > deadline:
                expired.set()
                break
    except FetchError:
        raise
    except Exception as error:  # requests/urllib3 errors while streaming, or the watchdog's shutdown
        if not expired.is_set():
            raise FetchError(f"The download broke off ({type(error).__name__}).", retryable=True) from None
    finally:
        watchdog.cancel()
        response.close()
    if expired.is_set():
        raise FetchError(f"The download took longer than {deadline:.0f} s.", retryable=True)
    return b"".join(parts)


def _mb(size: int) -> str:
    return f"{size / 1024 / 1024:.1f} MB"
