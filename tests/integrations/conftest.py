import threading
import time
import uuid
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, urlunsplit

import pytest

from integrations import http


@pytest.fixture
def outbound(settings) -> Iterator[dict]:
    """Fast timeouts and backoff, and breakers in a namespace of their own, reset around each test.

    The tests of the shared HTTP layer (its address checks included) and of the OpenAI client ask
    for it in every test; instagram/, n8n/ and cms/ set up their own."""
    if settings.REDIS_URL:
        # tests/conftest.py's cache.clear() flushes the cache's Redis database, which would
        # wipe the breaker state of tests running in parallel: breakers get a database of their own.
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
    }
    http.reset_breakers()
    yield settings.OUTBOUND_HTTP
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


class ScriptedServer:
    """A local HTTP server that gives the queued answers in order, then 200s, and records hits."""

    def __init__(self) -> None:
        self.answers: deque[Answer] = deque()
        self.hits: list[Hit] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        # A short poll interval lets shutdown() return at once rather than after half a second.
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.01,), daemon=True)

    def answer(self, *answers: Answer) -> None:
        self.answers.extend(answers)

    def url(self, path: str = "/") -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{path}"

    def _next(self, hit: Hit) -> Answer:
        with self._lock:
            self.hits.append(hit)
            return self.answers.popleft() if self.answers else Answer()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                answer = server._next(Hit(self.command, self.path, dict(self.headers)))
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

            def log_message(self, format: str, *args: object) -> None:
                pass

        return Handler

    def __enter__(self) -> "ScriptedServer":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    with ScriptedServer() as running:
        yield running
