"""The one way the product calls an outside service.

``request()`` sends an HTTP request with per-provider timeouts, retries with backoff for
idempotent requests, a circuit breaker (shared across processes through Redis when
``REDIS_URL`` is set), Prometheus metrics and one log line per call. ``call()`` runs any other
call, such as an SDK with its own HTTP client, under the same breaker, metrics and logging.
Failures surface as ``ProviderError``. Settings: ``OUTBOUND_HTTP`` in ``marketing/settings.py``.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import socket
import threading
import time
import urllib.request
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from http.cookiejar import DefaultCookiePolicy
from typing import Any, TypeVar
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import pybreaker
import redis
import requests
from django.conf import settings
from prometheus_client import Counter, Histogram
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt, wait_exponential_jitter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from marketing import redis_client

logger = logging.getLogger("integrations.http")

T = TypeVar("T")

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Outcomes that say the provider is unwell; only these count towards opening its circuit.
TRANSIENT_OUTCOMES = frozenset({"server_error", "timeout", "connection_error"})

# Keys OUTBOUND_HTTP may set but need not.
_DEFAULTS: dict[str, Any] = {
    "backoff_max": 30.0,  # seconds, the longest wait between two attempts
    "retry_after_max": 10.0,  # seconds; a longer Retry-After ends the call for a later retry
}

REQUEST_DURATION = Histogram(
    "outbound_request_duration_seconds",
    "Time spent on one call to an outside service, retries included.",
    ["provider"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, float("inf")),
)
REQUESTS = Counter(
    "outbound_requests",
    "Calls to outside services by outcome: success, client_error, rate_limited, server_error, "
    "timeout, connection_error, transient_error, error, private_address, circuit_open.",
    ["provider", "outcome"],
)


class ProviderError(Exception):
    """An outside service failed or refused; ``retryable`` says whether trying later can help."""

    def __init__(
        self,
        message: str,
        *,
        provider: str = "",
        retryable: bool = False,
        status: int | None = None,
        response: requests.Response | None = None,
        retry_after: float | None = None,
        outcome: str = "error",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.provider = provider
        self.retryable = retryable
        self.status = status
        self.response = response
        self.retry_after = retry_after  # seconds the provider (or the open circuit) asks to wait
        self.outcome = outcome


# What a marketer reads for a failure of the connection itself; the technical line stays in the logs.
PLAIN_OUTCOMES = {
    "timeout": "{name} did not answer in time",
    "connection_error": "{name} could not be reached",
    "server_error": "{name} had a problem on its side",
    "circuit_open": "{name} has been failing, so calls to it are paused for a few minutes",
}


def plain_message(error: ProviderError, name: str) -> str:
    """The error in words for the page: the outcome for transport failures, else the provider's message."""
    template = PLAIN_OUTCOMES.get(error.outcome)
    return template.format(name=name) + "." if template else error.message


class PrivateAddressError(ValueError):
    """A workspace's URL led into a private network: by a redirect, or by what its name resolved to
    when connecting. Not an OSError, which urllib3 would take for a network failure and retry."""


class CircuitOpenError(ProviderError):
    """The provider's circuit is open: the call was refused without reaching the provider."""


class _Breaker(pybreaker.CircuitBreaker):
    """pybreaker's state machine and storage, fed with outcomes instead of wrapping the call.

    ``CircuitBreaker.call()`` holds one lock for the whole guarded call, which would serialise
    every thread's calls to a provider (danielfm/pybreaker#55), so the call runs outside and
    only its outcome goes through the breaker.
    """

    def open_for(self, state: str | None = None) -> float | None:
        """Seconds left before a trial call is allowed, or None if calls may go through now.

        ``state``: the state just read from the storage, saving a second read.
        """
        if (state or self.current_state) != pybreaker.STATE_OPEN:
            return None
        opened_at = self._state_storage.opened_at
        if opened_at is None:
            return None
        left = (opened_at + timedelta(seconds=self.reset_timeout) - datetime.now(UTC)).total_seconds()
        return left if left > 0 else None

    def state_and_failures(self) -> tuple[str, int]:
        """The circuit's state and its count of failures in a row, in one Redis round trip."""
        storage = self._state_storage
        if isinstance(storage, _RedisStorage):
            return storage.state_and_failures()
        return storage.state, storage.counter

    def record_success(self, *, was_closed: bool = False, failures: int = 0) -> None:
        """The provider answered: reset the failure count, or close the circuit after a trial.

        ``was_closed``: the circuit was closed when the call began, with ``failures`` failures
        counted then. Only a count above zero needs resetting, which is harmless even if another
        process opened the circuit meanwhile (an open circuit does not count, and closing it
        again resets the count), so the state is not read again: a healthy provider's call costs
        one Redis round trip, none while the process trusts its last read (``HEALTHY_READ_TTL``). A failure counted elsewhere during the call may be left standing,
        as if it had come after this success.
        """
        if was_closed:
            if failures:
                self._state_storage.reset_counter()
            return
        with contextlib.suppress(pybreaker.CircuitBreakerError):  # reopened meanwhile elsewhere
            self.call(_succeed)

    def record_failure(self) -> None:
        """The provider failed transiently: count it, opening the circuit at ``fail_max``."""
        with contextlib.suppress(_Failure, pybreaker.CircuitBreakerError):
            self.call(_fail)


# How long a process trusts a read of "closed, no failures" before asking Redis again. Another
# process opening the circuit is seen this much later at most; a change made here (a failure
# counted, the state set) is seen at once.
HEALTHY_READ_TTL = 1.0


class _RedisStorage(pybreaker.CircuitRedisStorage):
    # time.monotonic() until which the last read, closed with no failures, stands.
    _healthy_until = 0.0

    def state_and_failures(self) -> tuple[str, int]:
        if time.monotonic() < self._healthy_until:
            return pybreaker.STATE_CLOSED, 0
        try:
            state, failures = self._redis.mget(self._namespace("state"), self._namespace("fail_counter"))
        except redis.RedisError:
            self.logger.exception("RedisError: falling back to default circuit state")
            return self._fallback_circuit_state, 0
        if state is None:  # gone from Redis: pybreaker's read sets it up again
            return self.state, 0
        state, failures = state.decode("utf-8"), int(failures or 0)
        if state == pybreaker.STATE_CLOSED and not failures:
            self._healthy_until = time.monotonic() + HEALTHY_READ_TTL
        return state, failures

    @pybreaker.CircuitRedisStorage.state.setter
    def state(self, state: str) -> None:
        self._healthy_until = 0.0
        pybreaker.CircuitRedisStorage.state.fset(self, state)

    def increment_counter(self) -> None:
        self._healthy_until = 0.0
        super().increment_counter()


class _Failure(Exception):
    """Stands in for a transient failure fed to the breaker."""


def _succeed() -> None:
    pass


def _fail() -> None:
    raise _Failure


_lock = threading.Lock()
_breakers: dict[str, _Breaker] = {}
_sessions: dict[str, requests.Session] = {}


def request(
    provider: str,
    method: str,
    url: str,
    *,
    timeout: float | tuple[float, float] | None = None,
    retries: int | None = None,
    idempotent: bool | None = None,
    accept: frozenset[int] = frozenset(),
    breaker: str | None = None,
    workspace_url: bool = False,
    **kwargs: Any,
) -> requests.Response:
    """Send an HTTP request to ``provider``; return the 2xx response or raise ProviderError.

    ``timeout``: a number sets the read timeout and keeps the configured connect timeout, a
    ``(connect, read)`` pair sets both; by default both come from ``OUTBOUND_HTTP`` and its
    per-provider override. ``retries``: attempts after the first for connection errors,
    timeouts and 429/500/502/503/504, made only when the request is idempotent: GET, HEAD,
    OPTIONS, PUT and DELETE are; pass ``idempotent=True`` for a POST that is safe to repeat.
    ``accept``: statuses besides 2xx returned as answers rather than raised (304 to a
    conditional GET, 3xx when the caller follows redirects itself). ``breaker``: the circuit
    to use, by default the provider's; callers that reach many unrelated hosts under one
    provider (feeds) pass one per host, so one dead site does not stop calls to the others.
    ``workspace_url``: the URL comes from a workspace (its n8n, feeds, WordPress): every address
    actually connected to and every redirect's target must be public (``private_host_problem``),
    else ProviderError without retries; a name checked when saved may resolve elsewhere later.
    Other keyword arguments go to ``requests.Session.request`` (params, json, headers...).
    Raises CircuitOpenError, without sending anything, while the provider's circuit is open.
    """
    conf = _config(provider)
    method = method.upper()
    if idempotent is None:
        idempotent = method in IDEMPOTENT_METHODS
    if retries is None:
        retries = conf["retries"]
    connect, read = conf["connect_timeout"], conf["timeout"]
    if isinstance(timeout, tuple):
        connect, read = timeout
    elif timeout is not None:
        read = timeout
    safe_url = _safe_url(url)
    session = _session(provider)
    fields: dict[str, Any] = {"method": method, "url": safe_url, "status": None, "attempts": 0}

    if workspace_url:
        kwargs["hooks"] = {"response": [_refuse_private_redirect]}

    def attempt() -> requests.Response:
        fields["attempts"] += 1
        fields["status"] = None
        guarded = _public_only.set(workspace_url)
        try:
            response = _send(session, method, url, (connect, read), kwargs)
        except requests.RequestException as exc:
            raise _transport_error(provider, f"{method} {safe_url}", exc) from None
        except PrivateAddressError as exc:
            raise ProviderError(f"{provider}: {exc}", provider=provider, outcome="private_address") from None
        finally:
            _public_only.reset(guarded)
        fields["status"] = response.status_code
        if 200 <= response.status_code < 300 or response.status_code in accept:
            return response
        raise _status_error(provider, f"{method} {safe_url}", response)

    if not idempotent or retries <= 0:
        # One attempt: tenacity would only call it and re-raise, for a tenth of the call's CPU.
        return _guarded(provider, attempt, _is_transient, fields, breaker=breaker)
    retrying = Retrying(
        stop=stop_after_attempt(1 + retries),
        wait=_wait(conf),
        retry=retry_if_exception(lambda exc: _should_retry(exc, conf["retry_after_max"])),
        sleep=_sleep,
        reraise=True,
    )
    return _guarded(provider, lambda: retrying(attempt), _is_transient, fields, breaker=breaker)


def call(
    provider: str,
    operation: str,
    fn: Callable[[], T],
    *,
    is_transient: Callable[[Exception], bool] | None = None,
) -> T:
    """Run ``fn()`` under ``provider``'s circuit breaker, metrics and logging, as request() does.

    For calls that do not go through request(), such as an SDK with its own HTTP client:
    ``call("openai", "images.generate", lambda: client.images.generate(...))``.
    ``operation`` names the call in the log line. ``fn`` takes no arguments; its result is
    returned and its exceptions propagate unchanged. An exception counts towards opening the
    circuit when ``is_transient(exc)`` is true; by default for timeouts, connection errors, a
    ``status_code`` of 500 or more, and transient ProviderErrors. Nothing is retried here (SDKs
    retry on their own). Raises CircuitOpenError without calling ``fn`` while the circuit is open.
    """
    fields: dict[str, Any] = {"operation": operation, "status": None, "attempts": 1}
    return _guarded(provider, fn, is_transient or _is_transient, fields)


def reset_breakers() -> None:
    """Forget every circuit breaker, and with Redis delete their shared state (for tests)."""
    with _lock:
        _breakers.clear()
    if not settings.REDIS_URL:
        return
    conf = settings.OUTBOUND_HTTP
    namespaces = {conf["breaker_namespace"]}
    namespaces.update(
        over["breaker_namespace"] for over in conf.get("providers", {}).values() if "breaker_namespace" in over
    )
    client = redis_client.client(settings.REDIS_URL)
    for namespace in namespaces:
        keys = list(client.scan_iter(match=f"{namespace}:*:pybreaker:*"))
        if keys:
            client.delete(*keys)


def _guarded(
    provider: str,
    fn: Callable[[], T],
    is_transient: Callable[[Exception], bool],
    fields: dict[str, Any],
    *,
    breaker: str | None = None,
) -> T:
    """Run ``fn()`` under the provider's breaker (or ``breaker``); time it, count its outcome, log one line."""
    circuit = _breaker(provider, breaker)
    started = time.perf_counter()
    outcome = "error"
    failure: Exception | None = None
    try:
        state, failures = circuit.state_and_failures()
        wait = circuit.open_for(state)
        if wait is not None:
            raise CircuitOpenError(
                f"{provider}: circuit open after repeated failures, not calling for {wait:.0f}s",
                provider=provider,
                retryable=True,
                retry_after=wait,
                outcome="circuit_open",
            )
        try:
            result = fn()
        except Exception as exc:
            failure = exc
            transient = is_transient(exc)
            if transient:
                circuit.record_failure()
            else:
                circuit.record_success(was_closed=state == pybreaker.STATE_CLOSED, failures=failures)
            if isinstance(exc, ProviderError):
                outcome = exc.outcome
            else:
                outcome = "transient_error" if transient else "error"
                # OpenAI's and httpx's errors call it status_code, Stripe's http_status.
                status = getattr(exc, "status_code", None) or getattr(exc, "http_status", None)
                fields["status"] = status if isinstance(status, int) else None
            raise
        circuit.record_success(was_closed=state == pybreaker.STATE_CLOSED, failures=failures)
        outcome = "success"
        return result
    except CircuitOpenError as exc:
        outcome, failure = "circuit_open", exc
        raise
    finally:
        duration = time.perf_counter() - started
        if outcome != "circuit_open":  # refusals take no time and would skew the latency
            REQUEST_DURATION.labels(provider=provider).observe(duration)
        REQUESTS.labels(provider=provider, outcome=outcome).inc()
        what = f"{fields['method']} {fields['url']}" if "method" in fields else fields["operation"]
        logger.log(
            logging.INFO if outcome == "success" else logging.WARNING,
            "%s %s: %s",
            provider,
            what,
            outcome if fields["status"] is None else f"{outcome} ({fields['status']})",
            extra={"provider": provider, **fields, "outcome": outcome, "duration_ms": round(duration * 1000)},
        )
        from monitoring import hooks as monitoring_hooks  # here: monitoring's models need the app registry

        monitoring_hooks.provider_call(provider, outcome=outcome, seconds=duration, failure=failure, status=fields["status"])


def _transport_error(provider: str, where: str, exc: requests.RequestException) -> ProviderError:
    if isinstance(exc, requests.Timeout):
        retryable, outcome = True, "timeout"
    elif isinstance(exc, requests.ConnectionError | requests.exceptions.ChunkedEncodingError):
        retryable, outcome = True, "connection_error"
    else:  # a bad URL, too many redirects...: retrying cannot help
        retryable, outcome = False, "error"
    return ProviderError(
        f"{provider}: {where} failed: {_reason(exc)}", provider=provider, retryable=retryable, outcome=outcome
    )


def _status_error(provider: str, where: str, response: requests.Response) -> ProviderError:
    status = response.status_code
    if status == 429:
        outcome = "rate_limited"
    elif status >= 500:
        outcome = "server_error"
    else:
        outcome = "client_error"
    return ProviderError(
        f"{provider}: {where} answered HTTP {status}",
        provider=provider,
        retryable=status in RETRY_STATUSES,
        status=status,
        response=response,
        retry_after=_retry_after(response),
        outcome=outcome,
    )


def _reason(exc: requests.RequestException) -> str:
    """The error's class and low-level cause.

    Not ``str(exc)``: urllib3 quotes the path and query string, where a token may be, and the
    chained exception is dropped for the same reason.
    """
    cause = getattr(exc.args[0], "reason", None) if exc.args else None
    return f"{type(exc).__name__} ({cause})" if cause else type(exc).__name__


def _is_transient(exc: Exception) -> bool:
    if isinstance(exc, ProviderError):
        return exc.outcome in TRANSIENT_OUTCOMES
    if isinstance(exc, TimeoutError | ConnectionError | requests.Timeout | requests.ConnectionError):
        return True
    status = getattr(exc, "status_code", None)
    return isinstance(status, int) and status >= 500


def _should_retry(exc: BaseException, retry_after_max: float) -> bool:
    return isinstance(exc, ProviderError) and exc.retryable and (exc.retry_after or 0) <= retry_after_max


def _wait(conf: dict[str, Any]) -> Callable[[RetryCallState], float]:
    """Exponential backoff with jitter, or the provider's Retry-After when that is longer."""
    backoff = wait_exponential_jitter(multiplier=conf["backoff"], max=conf["backoff_max"], jitter=conf["backoff"])

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        return max(backoff(state), getattr(exc, "retry_after", None) or 0.0)

    return wait


def _sleep(seconds: float) -> None:
    """Waits between attempts; a seam for tests."""
    time.sleep(seconds)


def _retry_after(response: requests.Response) -> float | None:
    """Seconds from a Retry-After header, given either as seconds or as an HTTP date."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return float(max(0, int(value)))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _safe_url(url: str) -> str:
    """The URL without credentials, query string or fragment, for logs and messages."""
    parts = urlsplit(url)
    netloc = parts.hostname or ""
    if parts.port:
        netloc = f"{netloc}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _config(provider: str) -> dict[str, Any]:
    conf = settings.OUTBOUND_HTTP
    general = {key: value for key, value in conf.items() if key != "providers"}
    return {**_DEFAULTS, **general, **conf.get("providers", {}).get(provider, {})}


def _session(provider: str) -> requests.Session:
    with _lock:
        session = _sessions.get(provider)
        if session is None:
            session = _sessions[provider] = requests.Session()
            # With trust_env, requests reads the whole environment and looks for ~/.netrc on every
            # call (a third of its own time). The environment is read once here instead: its CA
            # bundle is taken as requests would, and only a proxy set there keeps requests reading
            # it per call. ~/.netrc is not used, so the server's own credentials cannot ride along
            # on a call to a workspace's URL.
            session.verify = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True
            session.trust_env = bool(urllib.request.getproxies_environment())
            for prefix in ("http://", "https://"):
                session.mount(prefix, _CheckedAdapter())
            # One session serves every workspace's calls to the provider: a cookie set in
            # answer to one must not ride along on another's.
            session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        return session


# What _send prepares itself; a call with any other keyword (files, cookies, proxies...) goes
# through Session.request.
_LEAN_KWARGS = frozenset({"params", "data", "json", "headers", "auth", "hooks", "allow_redirects", "stream"})


def _send(
    session: requests.Session, method: str, url: str, timeout: tuple[float, float], kwargs: dict[str, Any]
) -> requests.Response:
    """``session.request(method, url, timeout=timeout, **kwargs)``, for a fraction of its CPU.

    Session.request merges the session's cookies, parameters, auth and hooks into the request
    and the environment's settings into the send, through generic merging (runtime protocol
    checks, a cookie jar built and searched) that cost more than the round trip itself. Here
    nothing is there to merge: the session holds no cookies (its policy refuses them all), no
    parameters, auth or hooks, and the environment was read once by ``_session`` (a proxy set
    there keeps the whole of Session.request). The request is prepared as requests prepares it
    (URL, headers over the session's defaults, body, auth; a dict of parameters or form fields
    encoded as ``_form`` says) and handed to the adapter (which the ``responses`` library
    patches); redirects are followed by the session as Session.send follows them, and a call
    with response hooks goes through Session.send whole.
    """
    if session.trust_env or not _LEAN_KWARGS.issuperset(kwargs):
        return session.request(method, url, timeout=timeout, **kwargs)
    prepared = requests.PreparedRequest()
    prepared.prepare_method(method)
    prepared.prepare_url(url, _form(kwargs.get("params")))
    headers = requests.structures.CaseInsensitiveDict(session.headers)
    for name, value in (kwargs.get("headers") or {}).items():
        if value is None:  # as requests does: None removes a default header
            headers.pop(name, None)
        else:
            headers[name] = value
    prepared.prepare_headers(headers)
    # An empty jar, as Session.request leaves one: redirects merge their cookies into it.
    prepared._cookies = requests.cookies.RequestsCookieJar()
    data = kwargs.get("data")
    form = _form(data) if isinstance(data, dict) else data
    prepared.prepare_body(form, None, kwargs.get("json"))
    if form is not data and form and "content-type" not in prepared.headers:
        prepared.headers["Content-Type"] = "application/x-www-form-urlencoded"  # as for the dict itself
    if kwargs.get("auth") is not None:
        prepared.prepare_auth(kwargs["auth"], url)
    prepared.prepare_hooks(kwargs.get("hooks"))
    stream = kwargs.get("stream") or session.stream
    settings = {"stream": stream, "timeout": timeout, "verify": session.verify, "cert": session.cert, "proxies": session.proxies}
    if prepared.hooks["response"]:
        return session.send(prepared, allow_redirects=kwargs.get("allow_redirects", True), **settings)
    response = session.get_adapter(prepared.url).send(prepared, **settings)
    # Session.send would now store the answer's cookies (the session's policy refuses them all)
    # and follow redirects, the one thing left to do here.
    if kwargs.get("allow_redirects", True) and response.is_redirect:
        history = [response, *session.resolve_redirects(response, prepared, **settings)]
        response = history.pop()
        response.history = history
    if not stream:
        response.content  # noqa: B018 - read now, as Session.send does, so the connection goes back to the pool
    return response


def _form(fields: Any) -> Any:
    """A dict of query parameters or form fields encoded as requests encodes it, anything else as it is.

    requests checks each value against runtime protocols on the way (a tenth of a call's CPU);
    for a dict the outcome is this: a string, bytes or non-iterable value is one value, an
    iterable several, None is left out, text is UTF-8.
    """
    if not isinstance(fields, dict):
        return fields
    pairs = []
    for key, values in fields.items():
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            values = [values]
        for value in values:
            if value is not None:
                pairs.append((key.encode() if isinstance(key, str) else key, value.encode() if isinstance(value, str) else value))
    return urlencode(pairs, doseq=True)


def _breaker(provider: str, key: str | None = None) -> _Breaker:
    key = key or provider
    with _lock:
        breaker = _breakers.get(key)
        if breaker is None:
            conf = _config(provider)
            breaker = _breakers[key] = _Breaker(
                fail_max=conf["breaker_fail_max"],
                reset_timeout=conf["breaker_reset_timeout"],
                state_storage=_storage(key, conf["breaker_namespace"]),
                name=key,
            )
        return breaker


def _storage(provider: str, namespace: str) -> pybreaker.CircuitBreakerStorage:
    if settings.REDIS_URL:
        try:
            return _RedisStorage(
                pybreaker.STATE_CLOSED, redis_client.client(settings.REDIS_URL), namespace=f"{namespace}:{provider}"
            )
        except redis.RedisError:
            logger.warning("Redis unreachable: %s circuit breaker state kept in this process", provider, exc_info=True)
    return pybreaker.CircuitMemoryStorage(pybreaker.STATE_CLOSED)


def private_host_problem(url: str) -> str | None:
    """Why ``url`` must not be called on a workspace's behalf, or None.

    A URL a workspace types in (its n8n, feeds) must not reach the platform's own network:
    loopback, private, link-local (cloud metadata) or reserved addresses are refused unless
    OUTBOUND_ALLOW_PRIVATE_HOSTS is on (the default with DEBUG, for local n8n and tests) or the
    address is in OUTBOUND_ALLOWED_NETWORKS. Checked when a URL is saved, for every redirect, and
    on the address each connection actually reaches (``request(workspace_url=True)``).
    """
    if settings.OUTBOUND_ALLOW_PRIVATE_HOSTS:
        return None
    host = urlsplit(url).hostname
    if not host:
        return "The URL has no host."
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except (socket.gaierror, UnicodeError):
        return f"{host} does not resolve."
    for address in addresses:
        if problem := _address_problem(host, address):
            return problem
    return None


def _address_problem(host: str, address: str) -> str | None:
    if settings.OUTBOUND_ALLOW_PRIVATE_HOSTS:
        return None
    ip = ipaddress.ip_address(address.split("%")[0])
    if any(ip in ipaddress.ip_network(network) for network in settings.OUTBOUND_ALLOWED_NETWORKS):
        return None
    if ip.is_private or ip.is_loopback or ip.is_link_local or ip.is_reserved or ip.is_multicast or ip.is_unspecified:
        return f"{host} points into a private network ({ip}); use the server's public address."
    return None


# On while request(workspace_url=True) runs in this thread: its connections check their peer.
_public_only: ContextVar[bool] = ContextVar("outbound_public_only", default=False)


def _refuse_private_redirect(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """A response hook, run before requests follows a redirect: its target must be public too."""
    if not response.is_redirect:
        return
    target = urljoin(response.url, response.headers["Location"])
    if urlsplit(target).scheme not in ("http", "https"):
        raise PrivateAddressError(f"It redirects to a {urlsplit(target).scheme or 'relative'} address, which is refused.")
    if problem := private_host_problem(target):
        response.close()
        raise PrivateAddressError(f"It redirects to {_safe_url(target)}: {problem}")


def _checked(sock: socket.socket, host: str) -> socket.socket:
    """The socket, if the address it reached may be called; else closed, and PrivateAddressError.

    The name was resolved by urllib3 just now, not when the URL was saved: checking the peer
    catches a name that has since been pointed at a private address (DNS rebinding)."""
    if _public_only.get():
        try:
            peer = sock.getpeername()[0]
        except OSError:
            peer = None
        if peer is not None and (problem := _address_problem(host, peer)):
            sock.close()
            raise PrivateAddressError(problem)
    return sock


class _CheckedHTTPConnection(HTTPConnection):
    def _new_conn(self) -> socket.socket:
        return _checked(super()._new_conn(), self.host)


class _CheckedHTTPSConnection(HTTPSConnection):
    def _new_conn(self) -> socket.socket:
        return _checked(super()._new_conn(), self.host)


class _CheckedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = _CheckedHTTPConnection


class _CheckedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = _CheckedHTTPSConnection


# Connection pools an adapter remembers by origin; past this many (feeds reach many hosts) it
# forgets them all and starts again from urllib3's manager.
MAX_REMEMBERED_POOLS = 64


class _CheckedAdapter(HTTPAdapter):
    """requests' adapter whose connections check the address they reached (``_checked``).

    Without a proxy or a client certificate it also skips work requests repeats on every call
    for the same answer (bench/README.md, ``execution_publish_overhead_ms``): the pool for an
    origin is found once (building urllib3's pool key and setting the pool's certificate checks
    cost a tenth of a call), the path is sent without looking for a proxy, and the answer's
    cookies are not gathered (the session refuses them all).
    """

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _CheckedHTTPConnectionPool, "https": _CheckedHTTPSConnectionPool}
        self._pools: dict[tuple[str, Any], HTTPConnectionPool] = {}

    def get_connection_with_tls_context(
        self, request: requests.PreparedRequest, verify: Any, proxies: dict | None = None, cert: Any = None
    ) -> HTTPConnectionPool:
        if proxies or cert:
            return super().get_connection_with_tls_context(request, verify, proxies=proxies, cert=cert)
        url = request.url
        key = (url[: url.find("/", url.find("//") + 2)].lower(), verify)  # scheme://host:port
        pool = self._pools.get(key)
        if pool is None:
            if len(self._pools) >= MAX_REMEMBERED_POOLS:
                self._pools.clear()
            pool = super().get_connection_with_tls_context(request, verify)
            super().cert_verify(pool, url, verify, None)
            self._pools[key] = pool
        return pool

    def close(self) -> None:
        super().close()
        self._pools.clear()

    def cert_verify(self, conn: HTTPConnectionPool, url: str, verify: Any, cert: Any) -> None:
        if cert:  # else set once, when the pool was found
            super().cert_verify(conn, url, verify, cert)

    def request_url(self, request: requests.PreparedRequest, proxies: dict | None) -> str:
        return super().request_url(request, proxies) if proxies else request.path_url

    def build_response(self, req: requests.PreparedRequest, resp: Any) -> requests.Response:
        """requests' response, without the cookies: the session's policy refuses them all."""
        response = requests.Response()
        response.status_code = resp.status
        response.headers = requests.structures.CaseInsensitiveDict(resp.headers)
        response.encoding = requests.utils.get_encoding_from_headers(response.headers)
        response.raw = resp
        response.reason = resp.reason
        response.url = req.url.decode("utf-8") if isinstance(req.url, bytes) else req.url
        response.request = req
        response.connection = self
        return response

