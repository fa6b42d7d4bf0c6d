"""n8n's public API and production webhooks: the only code that knows their URLs and payloads.

The public API lives at ``<base>/api/v1`` and takes the key in the ``X-N8N-API-KEY`` header.
Production webhooks answer at ``<base>/webhook/<path>`` only while their workflow is active.
Every call goes through ``integrations.http`` with the provider name "n8n"; failures come out
as ``N8nError``, a ProviderError whose ``kind`` says what went wrong in words a page can show.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import requests

from integrations import http

PROVIDER = "n8n"
API_PREFIX = "/api/v1"

# What went wrong, for pages and for deciding whether to try again.
UNREACHABLE = "unreachable"
BAD_KEY = "bad_key"
FORBIDDEN = "forbidden"
API_DISABLED = "api_disabled"
NOT_FOUND = "not_found"
REJECTED = "rejected"
SERVER = "server"
CIRCUIT_OPEN = "circuit_open"
NOT_CONFIGURED = "not_configured"


class N8nError(http.ProviderError):
    """n8n failed or refused. ``kind`` is one of the constants above."""

    def __init__(self, message: str, *, kind: str, retryable: bool = False, status: int | None = None) -> None:
        super().__init__(message, provider=PROVIDER, retryable=retryable, status=status)
        self.kind = kind


@dataclass(frozen=True)
class N8nClient:
    base_url: str
    api_key: str = field(repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    def check(self) -> None:
        """One cheap authenticated call, not retried: a person is waiting for the answer."""
        self._api("GET", "/workflows", collection=True, params={"limit": 1}, retries=0)

    # Workflows ---------------------------------------------------------------------------------

    def list_workflows(self, *, limit: int = 100) -> list[dict[str, Any]]:
        return self._api("GET", "/workflows", collection=True, params={"limit": limit}).get("data", [])

    def get_workflow(self, workflow_id: str) -> dict[str, Any]:
        return self._api("GET", f"/workflows/{_segment(workflow_id)}")

    def create_workflow(self, workflow: dict[str, Any]) -> dict[str, Any]:
        """POST /workflows. n8n refuses read-only fields such as ``active`` or ``id`` in the body."""
        return self._api("POST", "/workflows", collection=True, json=_writable(workflow))

    def update_workflow(self, workflow_id: str, workflow: dict[str, Any]) -> dict[str, Any]:
        """PUT /workflows/{id}: replaces nodes, connections and settings (n8n republishes an active one)."""
        return self._api("PUT", f"/workflows/{_segment(workflow_id)}", json=_writable(workflow))

    def activate_workflow(self, workflow_id: str) -> dict[str, Any]:
        # Activating twice is harmless, so a lost answer may be retried.
        return self._api("POST", f"/workflows/{_segment(workflow_id)}/activate", idempotent=True)

    def deactivate_workflow(self, workflow_id: str) -> dict[str, Any]:
        return self._api("POST", f"/workflows/{_segment(workflow_id)}/deactivate", idempotent=True)

    def delete_workflow(self, workflow_id: str) -> dict[str, Any]:
        return self._api("DELETE", f"/workflows/{_segment(workflow_id)}")

    # Executions --------------------------------------------------------------------------------

    def list_executions(
        self, *, workflow_id: str | None = None, limit: int = 20, include_data: bool = False, status: str | None = None
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if workflow_id:
            params["workflowId"] = workflow_id
        if include_data:
            params["includeData"] = "true"
        if status:
            params["status"] = status
        return self._api("GET", "/executions", collection=True, params=params).get("data", [])

    def get_execution(self, execution_id: str, *, include_data: bool = False) -> dict[str, Any]:
        params = {"includeData": "true"} if include_data else {}
        return self._api("GET", f"/executions/{_segment(execution_id)}", params=params)

    # Credentials -------------------------------------------------------------------------------

    def create_credential(self, *, name: str, type: str, data: dict[str, Any]) -> dict[str, Any]:
        return self._api("POST", "/credentials", collection=True, json={"name": name, "type": type, "data": data})

    def update_credential(self, credential_id: str, *, name: str, type: str, data: dict[str, Any]) -> dict[str, Any]:
        return self._api(
            "PATCH", f"/credentials/{_segment(credential_id)}", json={"name": name, "type": type, "data": data}
        )

    # Production webhooks -----------------------------------------------------------------------

    def webhook_url(self, path: str) -> str:
        return f"{self.base_url}/webhook/{path.lstrip('/')}"

    def trigger_webhook(self, path: str, *, body: bytes, headers: dict[str, str] | None = None) -> dict[str, Any]:
        """POSTs ``body`` (JSON bytes) to a production webhook. Never retried: each POST starts a run.

        A 404 means no active workflow listens on the path (kind NOT_FOUND).
        """
        try:
            response = http.request(
                PROVIDER,
                "POST",
                self.webhook_url(path),
                data=body,
                headers={"Content-Type": "application/json", **(headers or {})},
                idempotent=False,
                workspace_url=True,
            )
        except http.ProviderError as error:
            raise _translate(error, base_url=self.base_url, what="the workflow's webhook", collection=False) from None
        return _json(response)

    # -------------------------------------------------------------------------------------------

    def _api(
        self,
        method: str,
        path: str,
        *,
        collection: bool = False,
        idempotent: bool | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Calls the public API. ``collection``: a 404 there means the API itself is off."""
        if not self.api_key:
            raise N8nError(
                "No n8n API key is set. Create one in n8n under Settings → n8n API and enter it here.",
                kind=BAD_KEY,
            )
        headers = {"X-N8N-API-KEY": self.api_key, "Accept": "application/json"}
        try:
            response = http.request(
                PROVIDER,
                method,
                f"{self.base_url}{API_PREFIX}{path}",
                headers=headers,
                idempotent=idempotent,
                workspace_url=True,
                **kwargs,
            )
        except http.ProviderError as error:
            raise _translate(error, base_url=self.base_url, what=f"{method} {API_PREFIX}{path}", collection=collection) from None
        return _json(response)


def _segment(value: str) -> str:
    return quote(str(value), safe="")


# Fields n8n's public API accepts in a workflow body; the rest (id, active, tags...) are read-only.
WRITABLE_WORKFLOW_FIELDS = ("name", "nodes", "connections", "settings", "staticData")


def _writable(workflow: dict[str, Any]) -> dict[str, Any]:
    return {key: workflow[key] for key in WRITABLE_WORKFLOW_FIELDS if key in workflow}


def _json(response: requests.Response) -> dict[str, Any]:
    if not response.content:
        return {}
    try:
        data = response.json()
    except ValueError:
        raise N8nError("n8n answered with something that is not JSON.", kind=SERVER) from None
    return data if isinstance(data, dict) else {"data": data}


def _n8n_message(response: requests.Response | None) -> str:
    """n8n's own explanation from an error body, shortened; empty when there is none."""
    if response is None:
        return ""
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        message = body.get("message") or body.get("error") or ""
        if isinstance(message, str):
            return message.strip()[:300]
    return ""


def _translate(error: http.ProviderError, *, base_url: str, what: str, collection: bool) -> N8nError:
    if isinstance(error, http.CircuitOpenError):
        return N8nError(
            f"n8n at {base_url} failed repeatedly; calls are paused for a moment before trying again.",
            kind=CIRCUIT_OPEN,
            retryable=True,
        )
    if error.outcome == "private_address":
        return N8nError(f"n8n at {base_url} was not called: {error.message.split(': ', 1)[-1]}", kind=UNREACHABLE)
    status = error.status
    said = _n8n_message(error.response)
    says = f" n8n says: {said}" if said else ""
    if status is None:
        reason = "timed out" if error.outcome == "timeout" else "could not be reached"
        return N8nError(
            f"n8n at {base_url} {reason}. Check the base URL and that n8n is running and reachable from here.",
            kind=UNREACHABLE,
            retryable=error.retryable,
        )
    if status == 401:
        return N8nError(
            f"n8n refused the API key (HTTP 401). Create a new key in n8n under Settings → n8n API.{says}",
            kind=BAD_KEY,
            status=status,
        )
    if status == 403:
        return N8nError(
            f"The API key may not do this ({what}, HTTP 403). Give the key the workflow, execution and "
            f"credential scopes.{says}",
            kind=FORBIDDEN,
            status=status,
        )
    if status == 404:
        if collection:
            return N8nError(
                f"n8n's public API is off or not at {base_url}{API_PREFIX} (HTTP 404). Check the base URL, and "
                f"that the API is enabled (N8N_PUBLIC_API_DISABLED is not true).{says}",
                kind=API_DISABLED,
                status=status,
            )
        return N8nError(f"n8n has no such thing ({what}, HTTP 404).{says}", kind=NOT_FOUND, status=status)
    if status >= 500 or status == 429:
        return N8nError(
            f"n8n had a problem ({what}, HTTP {status}); trying again later may help.{says}",
            kind=SERVER,
            retryable=True,
            status=status,
        )
    return N8nError(f"n8n refused {what} (HTTP {status}).{says}", kind=REJECTED, status=status)
