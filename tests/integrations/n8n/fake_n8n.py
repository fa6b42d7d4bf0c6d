"""A local stand-in for n8n's public API and production webhooks, reached over real HTTP on 127.0.0.1.

It keeps workflows, credentials and executions in memory and answers the way n8n 2.8 does
(checked against a real one by the e2e test): 401 for a bad ``X-N8N-API-KEY``, 400
"request/body/active is read-only" for read-only fields on create, 404 for unknown ids, and
404 on a production webhook whose workflow is not active. Script other answers with
``fail(method, path, status, body)``; set ``public_api = False`` to answer like an n8n with
the public API off.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.local_server import LocalServer, QuietHandler

API_KEY = "test-n8n-api-key"
READ_ONLY = ("id", "active", "createdAt", "updatedAt", "tags", "shared", "activeVersion")
WRITABLE = ("name", "nodes", "connections", "settings", "staticData")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names in lower case
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass
class Scripted:
    method: str
    path: str
    status: int
    body: Any


@dataclass
class FakeN8n(LocalServer):
    api_key: str = API_KEY
    public_api: bool = True
    workflows: dict[str, dict[str, Any]] = field(default_factory=dict)
    credentials: dict[str, dict[str, Any]] = field(default_factory=dict)
    executions: list[dict[str, Any]] = field(default_factory=list)
    requests: list[Request] = field(default_factory=list)
    _scripted: deque[Scripted] = field(default_factory=deque)
    _ids: Iterator[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        super().__init__(self._handler())

    @property
    def base_url(self) -> str:
        return self.origin

    def fail(self, method: str, path: str, status: int, body: Any = None) -> None:
        """The next ``method`` request whose path starts with ``path`` gets this answer."""
        self._scripted.append(Scripted(method, path, status, body if body is not None else {"message": "scripted"}))

    def webhook_calls(self, path: str | None = None) -> list[Request]:
        return [r for r in self.requests if r.path.startswith("/webhook/") and (path is None or r.path == f"/webhook/{path}")]

    def api_calls(self, method: str | None = None, prefix: str = "/api/v1") -> list[Request]:
        return [r for r in self.requests if r.path.startswith(prefix) and (method is None or r.method == method)]

    def add_execution(self, workflow_id: str, *, status: str = "success", data: dict | None = None, **fields: Any) -> dict:
        execution = {
            "id": str(next(self._ids)),
            "workflowId": workflow_id,
            "status": status,
            "finished": status == "success",
            "mode": "webhook",
            "startedAt": "2026-01-01T10:00:00.000Z",
            "stoppedAt": "2026-01-01T10:00:01.000Z",
            "data": data or {},
            **fields,
        }
        self.executions.append(execution)
        return execution

    @staticmethod
    def webhook_path_of(workflow: dict[str, Any]) -> str:
        return next(node["parameters"]["path"] for node in workflow["nodes"] if node["type"] == "n8n-nodes-base.webhook")

    # --------------------------------------------------------------------------------------------

    def _route(self, request: Request) -> tuple[int, Any]:
        for scripted in list(self._scripted):
            if scripted.method == request.method and request.path.startswith(scripted.path):
                self._scripted.remove(scripted)
                return scripted.status, scripted.body
        if request.path.startswith("/webhook/"):
            return self._webhook(request)
        if not request.path.startswith("/api/v1/"):
            return 404, "Cannot " + request.method
        if not self.public_api:
            return 404, f"Cannot {request.method} {request.path}"
        if request.headers.get("x-n8n-api-key") != self.api_key:
            return 401, {"message": "unauthorized"}
        parts = request.path.removeprefix("/api/v1/").strip("/").split("/")
        handler = getattr(self, f"_{parts[0]}", None)
        if handler is None:
            return 404, {"message": "Not Found"}
        return handler(request, parts[1:])

    def _webhook(self, request: Request) -> tuple[int, Any]:
        path = request.path.removeprefix("/webhook/")
        for workflow in self.workflows.values():
            if workflow["active"] and self.webhook_path_of(workflow) == path:
                node = next(n for n in workflow["nodes"] if n["type"] == "n8n-nodes-base.webhook")
                if node["parameters"].get("authentication") == "headerAuth":
                    data = self.credentials.get(node["credentials"]["httpHeaderAuth"]["id"], {}).get("data", {})
                    if request.headers.get(data.get("name", "").lower()) != data.get("value"):
                        return 403, "Authorization data is wrong!"
                return 200, {"message": "Workflow was started"}
        return 404, {
            "code": 404,
            "message": f'The requested webhook "{request.method} {path}" is not registered.',
            "hint": "The workflow must be active for a production URL to run successfully.",
        }

    def _workflows(self, request: Request, rest: list[str]) -> tuple[int, Any]:
        if not rest:
            if request.method == "GET":
                limit = int(request.query.get("limit", ["100"])[0])
                return 200, {"data": list(self.workflows.values())[:limit], "nextCursor": None}
            if request.method == "POST":
                body = request.json or {}
                problem = _invalid_workflow(body)
                if problem:
                    return 400, {"message": problem}
                workflow_id = f"wf{next(self._ids)}"
                self.workflows[workflow_id] = {**body, "id": workflow_id, "active": False}
                return 200, self.workflows[workflow_id]
            return 405, {"message": "method not allowed"}
        workflow = self.workflows.get(rest[0])
        if workflow is None:
            return 404, {"message": "Not Found"}
        if len(rest) == 2 and request.method == "POST" and rest[1] in ("activate", "deactivate"):
            workflow["active"] = rest[1] == "activate"
            return 200, workflow
        if request.method == "GET":
            return 200, workflow
        if request.method == "PUT":
            body = request.json or {}
            problem = _invalid_workflow(body)
            if problem:
                return 400, {"message": problem}
            workflow.update(body)
            return 200, workflow
        if request.method == "DELETE":
            return 200, self.workflows.pop(rest[0])
        return 405, {"message": "method not allowed"}

    def _executions(self, request: Request, rest: list[str]) -> tuple[int, Any]:
        include_data = request.query.get("includeData", ["false"])[0] == "true"

        def shown(execution: dict) -> dict:
            return execution if include_data else {k: v for k, v in execution.items() if k != "data"}

        if not rest:
            wanted = request.query.get("workflowId", [None])[0]
            limit = int(request.query.get("limit", ["100"])[0])
            found = [e for e in reversed(self.executions) if wanted is None or e["workflowId"] == wanted]
            return 200, {"data": [shown(e) for e in found[:limit]], "nextCursor": None}
        for execution in self.executions:
            if execution["id"] == rest[0]:
                return 200, shown(execution)
        return 404, {"message": "Not Found"}

    def _credentials(self, request: Request, rest: list[str]) -> tuple[int, Any]:
        body = request.json or {}
        if not rest and request.method == "POST":
            credential_id = f"cred{next(self._ids)}"
            self.credentials[credential_id] = {**body, "id": credential_id}
            return 200, {"id": credential_id, "name": body.get("name"), "type": body.get("type")}
        if rest and request.method == "PATCH":
            credential = self.credentials.get(rest[0])
            if credential is None:
                return 404, {"message": "Not Found"}
            credential.update(body)
            return 200, {"id": rest[0], "name": credential.get("name"), "type": credential.get("type")}
        return 405, {"message": "method not allowed"}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(QuietHandler):
            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                url = urlsplit(self.path)
                request = Request(
                    self.command, url.path, parse_qs(url.query), {k.lower(): v for k, v in self.headers.items()}, body
                )
                with fake._lock:
                    fake.requests.append(request)
                    status, answer = fake._route(request)
                payload = answer.encode() if isinstance(answer, str) else json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "text/html" if isinstance(answer, str) else "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

        return Handler



def _invalid_workflow(body: dict[str, Any]) -> str:
    for key in body:
        if key in READ_ONLY:
            return f"request/body/{key} is read-only"
        if key not in WRITABLE:
            return "request/body must NOT have additional properties"
    for key in ("name", "nodes", "connections", "settings"):
        if key not in body:
            return f"request/body must have required property '{key}'"
    return ""


@pytest.fixture
def fake_n8n(settings) -> Iterator[FakeN8n]:
    """A running fake n8n, configured as the platform's n8n (N8N_BASE_URL and N8N_API_KEY)."""
    with FakeN8n() as fake:
        settings.N8N_BASE_URL = fake.base_url
        settings.N8N_API_KEY = fake.api_key
        yield fake
