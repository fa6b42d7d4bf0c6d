import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from urllib.parse import urlsplit, urlunsplit

import pytest

from integrations import http
from tests.local_server import LocalServer, QuietHandler


def outbound_settings(settings, **overrides) -> dict:
    """Fast timeouts and backoff, and breakers in a namespace of their own, with ``overrides``.

    Breakers get a Redis database of their own: tests/conftest.py's cache.clear() flushes the
    cache's, which would wipe the breaker state of tests running in parallel."""
    if settings.REDIS_URL:
        settings.REDIS_URL = urlunsplit(urlsplit(settings.REDIS_URL)._replace(path="/15"))
    settings.OUTBOUND_HTTP = {
        "timeout": 0.2,
        "connect_timeout": 0.5,
        "retries": 2,
        "backoff": 0.001,
        "breaker_fail_max": 3,
        "breaker_reset_timeout": 60,
        # Tests running in parallel, or a developer's own data, share the Redis database.
        "breaker_namespace": f"test-{uuid.uuid4().hex}",
        "providers": {},
        **overrides,
    }
    http.reset_breakers()
    return settings.OUTBOUND_HTTP


@pytest.fixture
def outbound(settings) -> Iterator[dict]:
    """outbound_settings() around a test, breakers reset after it.

    The tests of the shared HTTP layer (its address checks included) and of the OpenAI client ask
    for it in every test; n8n/ sets its own values through outbound_settings()."""
    yield outbound_settings(settings)
    http.reset_breakers()


@dataclass
class Answer:
    status: int = 200
    body: bytes = b'{"ok": true}'
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Hit:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes = b""


class ScriptedServer(LocalServer):
    """A local HTTP server that gives the queued answers in order, then 200s, and records hits."""

    def __init__(self) -> None:
        self.answers: deque[Answer] = deque()
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        super().__init__(self._handler())

    def answer(self, *answers: Answer) -> None:
        self.answers.extend(answers)

    def url(self, path: str = "/") -> str:
        return self.origin + path

    def _next(self, hit: Hit) -> Answer:
        with self._lock:
            self.hits.append(hit)
            return self.answers.popleft() if self.answers else Answer()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(QuietHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                answer = server._next(Hit(self.command, self.path, dict(self.headers), body))
                if answer.delay:
                    time.sleep(answer.delay)
                try:
                    self.send_response(answer.status)
                    for name, value in answer.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(answer.body)))
                    self.end_headers()
                    self.wfile.write(answer.body)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and left

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _serve

        return Handler



@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:
        yield running
