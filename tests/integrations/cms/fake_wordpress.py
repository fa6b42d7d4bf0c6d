"""A local stand-in for WordPress's REST API (``?rest_route=/wp/v2/...``), over real HTTP on 127.0.0.1.

It keeps posts, media and terms in memory and answers as WordPress 6 does for what the app uses:
401 ``rest_not_logged_in`` without the application password, posts found by ``slug``, media by
``search``, terms by ``search``. ``lose_next(method, route)`` handles the next such request and
then drops the connection without answering, as a timeout after the work was done looks.
"""

from __future__ import annotations

import base64
import itertools
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.local_server import LocalServer, QuietHandler

USER, PASSWORD = "editor", "abcd efgh ijkl mnop qrst uvwx"


@dataclass
class FakeWordPress(LocalServer):
    posts: list[dict[str, Any]] = field(default_factory=list)
    media: list[dict[str, Any]] = field(default_factory=list)
    terms: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: {"categories": [], "tags": []})
    requests: list[tuple[str, str]] = field(default_factory=list)
    _lose: set[tuple[str, str]] = field(default_factory=set)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(100))

    def lose_next(self, method: str, route: str) -> None:
        self._lose.add((method, route))

    def __post_init__(self) -> None:
        super().__init__(self._handler())

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def _handle(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                route = query.get("rest_route", [""])[0]
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fake.requests.append((self.command, route))
                expected = "Basic " + base64.b64encode(f"{USER}:{PASSWORD.replace(' ', '')}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    return self._send(401, {"code": "rest_not_logged_in", "message": "You are not currently logged in."})
                status, answer = fake._answer(self.command, route, query, self.headers, body)
                if (self.command, route) in fake._lose:
                    fake._lose.discard((self.command, route))
                    self.close_connection = True
                    return
                self._send(status, answer)

            do_GET = do_POST = _handle

            def _send(self, status: int, answer: Any) -> None:
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json; charset=UTF-8")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        return Handler

    @property
    def base_url(self) -> str:
        return self.origin

    def _answer(self, method: str, route: str, query: dict, headers: Any, body: bytes) -> tuple[int, Any]:
        parts = route.strip("/").split("/")  # wp, v2, collection[, id]
        collection = parts[2] if len(parts) > 2 else ""
        if collection == "media" and method == "POST" and len(parts) == 3:
            name = headers.get("Content-Disposition", "").split('filename="')[-1].rstrip('"')
            item = {"id": next(self._ids), "source_url": f"{self.base_url}/wp-content/uploads/{name}", "size": len(body)}
            self.media.append(item)
            return 201, item
        if collection == "media" and method == "POST":
            item = next(m for m in self.media if m["id"] == int(parts[3]))
            item.update({key: value for key, value in json.loads(body or b"{}").items() if key == "alt_text"})
            return 200, item
        if collection == "media":
            search = query.get("search", [""])[0]
            return 200, [m for m in self.media if search in m["source_url"]]
        if collection in self.terms and method == "POST":
            term = {"id": next(self._ids), "name": json.loads(body)["name"]}
            self.terms[collection].append(term)
            return 201, term
        if collection in self.terms:
            search = query.get("search", [""])[0].lower()
            return 200, [t for t in self.terms[collection] if search in t["name"].lower()]
        if collection == "posts" and method == "POST":
            fields = json.loads(body)
            post = {**fields, "id": next(self._ids), "link": f"{self.base_url}/?p={len(self.posts) + 1}"}
            self.posts.append(post)
            return 201, post
        if collection == "posts":
            slug = query.get("slug", [None])[0]
            return 200, [p for p in self.posts if slug is None or p.get("slug") == slug]
        return 404, {"code": "rest_no_route", "message": "No route was found matching the URL and request method."}


@pytest.fixture
def fake_wordpress(settings) -> Iterator[FakeWordPress]:
    settings.OUTBOUND_ALLOW_PRIVATE_HOSTS = True
    with FakeWordPress() as fake:
        yield fake
