"""A local stand-in for the OpenAI API, reached over real HTTP by the real SDK.

Use the ``fake_openai`` fixture: it points ``OPENAI_BASE_URL`` at the fake, sets a test key and a
short OpenAI timeout, answers ``POST /v1/images/generations`` with a real PNG and
``POST /v1/chat/completions`` with ``chat_text``, and records what it was sent. Script other answers per test::

    fake_openai.fail(500)
    fake_openai.hang()               # never answers: the call times out
    fake_openai.refuse_moderation()
    fake_openai.reject_key()

Scripted answers are given in order, one per request; then every request succeeds.
"""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from PIL import Image

from tests.local_server import LocalServer, QuietHandler

# The read timeout the fixture gives the OpenAI client, so a hung answer fails fast.
TIMEOUT = 0.5


def png(size: tuple[int, int] = (64, 64), color: tuple[int, int, int] = (30, 120, 200)) -> bytes:
    """A real PNG of one colour."""
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def error_body(message: str, *, type: str, code: str | None = None) -> dict[str, Any]:
    """An error body shaped like OpenAI's."""
    return {"error": {"message": message, "type": type, "param": None, "code": code}}


@dataclass
class Reply:
    status: int = 200
    body: dict[str, Any] | None = None  # None: a successful generation with the fake's image
    hang: bool = False  # keep the connection open without answering until the fake stops
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]  # names in lower case
    json: Any


class FakeOpenAI(LocalServer):
    def __init__(self) -> None:
        self.image = png()
        self.chat_text = '{"caption": "A caption from the fake.", "hashtags": ["fake"]}'
        self.requests: list[Received] = []
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        super().__init__(self._handler())

    @property
    def base_url(self) -> str:
        return f"{self.origin}/v1"

    def reply(self, *replies: Reply) -> None:
        """Queue answers for the next requests, in order."""
        with self._lock:
            self._replies.extend(replies)

    def succeed(self, image: bytes | None = None) -> None:
        self.reply(Reply(body=self._success(image or self.image)))

    def fail(self, status: int = 500, times: int = 1) -> None:
        message = "The server had an error while processing your request. Sorry about that!"
        self.reply(*[Reply(status, error_body(message, type="server_error"))] * times)

    def hang(self, times: int = 1) -> None:
        self.reply(*[Reply(hang=True)] * times)

    def refuse_moderation(self) -> None:
        message = (
            "Your request was rejected by the safety system. If you believe this is an error, "
            "contact us at help.openai.com and include the request ID req_123."
        )
        self.reply(Reply(400, error_body(message, type="image_generation_user_error", code="moderation_blocked")))

    def reject_key(self) -> None:
        message = "Incorrect API key provided: sk-te***st. You can find your API key at https://platform.openai.com."
        self.reply(Reply(401, error_body(message, type="invalid_request_error", code="invalid_api_key")))

    def _success(self, image: bytes) -> dict[str, Any]:
        return {
            "created": int(time.time()),
            "background": "opaque",
            "data": [{"b64_json": base64.b64encode(image).decode()}],
            "output_format": "png",
            "quality": "medium",
            "size": "1024x1024",
            "usage": {
                "input_tokens": 12,
                "input_tokens_details": {"image_tokens": 0, "text_tokens": 12},
                "output_tokens": 1056,
                "total_tokens": 1068,
            },
        }

    def _chat_success(self, text: str) -> dict[str, Any]:
        return {
            "id": "chatcmpl-test",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": "gpt-test",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 40, "completion_tokens": 30, "total_tokens": 70},
        }

    def _next(self, received: Received) -> Reply:
        with self._lock:
            self.requests.append(received)
            return self._replies.popleft() if self._replies else Reply()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(QuietHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                try:
                    payload = json.loads(raw) if raw else None
                except ValueError:
                    payload = raw
                headers = {name.lower(): value for name, value in self.headers.items()}
                received = Received(self.command, self.path, headers, payload)
                if self.path.split("?")[0] not in ("/v1/images/generations", "/v1/chat/completions"):
                    fake.requests.append(received)
                    self._send(404, error_body(f"Unknown path {self.path}", type="invalid_request_error"))
                    return
                reply = fake._next(received)
                if reply.hang:
                    fake.stopping.wait(10)
                    return
                if reply.body is not None:
                    body = reply.body
                elif self.path.startswith("/v1/chat/"):
                    body = fake._chat_success(fake.chat_text)
                else:
                    body = fake._success(fake.image)
                self._send(reply.status, body, reply.headers)

            def _send(self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                try:
                    self.send_response(status)
                    for name, value in (headers or {}).items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client timed out and left

        return Handler


@pytest.fixture
def fake_openai(settings) -> Iterator[FakeOpenAI]:
    """A running FakeOpenAI that the OpenAI client talks to, with a test key and a short timeout.

    OUTBOUND_HTTP is replaced by a copy with ``providers["openai"]["timeout"]`` set: change
    OpenAI's settings afterwards through ``settings.OUTBOUND_HTTP``, not an earlier reference.
    """
    with FakeOpenAI() as fake:
        settings.OPENAI_BASE_URL = fake.base_url
        settings.OPENAI_API_KEY = "sk-test"
        conf = settings.OUTBOUND_HTTP
        providers = conf.get("providers", {})
        settings.OUTBOUND_HTTP = {
            **conf,
            "providers": {**providers, "openai": {"timeout": TIMEOUT, **providers.get("openai", {})}},
        }
        yield fake
