"""A local web server on 127.0.0.1 that serves feeds (and worse) over real HTTP.

``serve(path, body, ...)`` publishes a body with its ETag and Last-Modified and answers a
conditional GET with 304 the way web servers do; ``redirect``, ``drip`` and ``endless`` script
hostile answers. Feed files of real published shapes live in ``tests/integrations/cms/feeds/``.
"""

from __future__ import annotations

import hashlib
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from tests.local_server import LocalServer, QuietHandler

FEEDS = Path(__file__).parent / "feeds"
LAST_MODIFIED = "Tue, 01 Dec 2026 09:00:00 GMT"


def feed_file(name: str) -> bytes:
    return (FEEDS / name).read_bytes()


@dataclass
class Route:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/rss+xml; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    conditional: bool = True  # answer If-None-Match / If-Modified-Since with 304
    drip_seconds: float = 0.0  # send the body a byte at a time, this far apart
    endless: bool = False  # stream without Content-Length until the client leaves


class FeedServer(LocalServer):
    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.requests: list[tuple[str, dict[str, str]]] = []
        super().__init__(self._handler(), quiet_errors=True)

    @property
    def base_url(self) -> str:
        return self.origin

    def url(self, path: str) -> str:
        return self.base_url + path

    def serve(self, path: str, body: bytes, **options) -> str:
        self.routes[path] = Route(body=body, **options)
        return self.url(path)

    def serve_file(self, path: str, name: str, **options) -> str:
        return self.serve(path, feed_file(name), **options)

    def redirect(self, path: str, to: str, status: int = 302) -> str:
        self.routes[path] = Route(status=status, headers={"Location": to}, conditional=False)
        return self.url(path)

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                server.hits[path] += 1
                server.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}))
                route = server.routes.get(path)
                if route is None:
                    return self._send(404, b"not found", {"Content-Type": "text/plain"})
                etag = '"' + hashlib.sha256(route.body).hexdigest()[:16] + '"'
                if route.conditional and route.status == 200:
                    # As RFC 9110 says: If-None-Match, when sent, decides alone.
                    match = self.headers.get("If-None-Match")
                    fresh = match == etag if match else self.headers.get("If-Modified-Since") == LAST_MODIFIED
                    if fresh:
                        return self._send(304, b"", {"ETag": etag})
                headers = {"Content-Type": route.content_type, **route.headers}
                if route.conditional:
                    headers.update({"ETag": etag, "Last-Modified": LAST_MODIFIED})
                if route.endless:
                    return self._endless(headers)
                if route.drip_seconds:
                    return self._drip(route, headers)
                self._send(route.status, route.body, headers)

            def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    if "Content-Length" not in headers:
                        self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _endless(self, headers: dict[str, str]) -> None:
                self.close_connection = True
                chunk = b"<rss>" + b"x" * 65536
                try:
                    self.send_response(200)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Connection", "close")
                    self.end_headers()
                    while not server.stopping.is_set():
                        self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError, OSError):
                    pass

            def _drip(self, route: Route, headers: dict[str, str]) -> None:
                try:
                    self.send_response(200)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(route.body)))
                    self.end_headers()
                    for byte in route.body:
                        if server.stopping.is_set():
                            return
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(route.drip_seconds)
                except (BrokenPipeError, ConnectionResetError, OSError):
                    pass

        return Handler



@pytest.fixture
def feed_server(settings) -> Iterator[FeedServer]:
    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = True
    with FeedServer() as server:
        yield server
