"""Writes for n8n: the connection and its secrets, and installed templates.

Pages and the admin come through here; runs handed to n8n, their callbacks and timeouts live in
``runs.py``.

Two per-workspace secrets, both encrypted at rest here, reach n8n as n8n credentials that we
create (or update) at install time, never in the workflow JSON, a page, a log line or a payload:

- the callback secret, in a "crypto" credential the templates' Crypto node uses to sign the
  callback (HMAC-SHA256); it also signs the payload of each run;
- the run token, in an "httpHeaderAuth" credential that the templates' Webhook node checks in the
  X-Marketing-Token header, so nobody who learns a webhook URL can start a workflow (n8n answers
  403). n8n keeps webhook headers in its execution data, which is why this token is not the
  callback secret: seeing executions in n8n must not allow forging callbacks.
"""

from __future__ import annotations

import logging
import secrets as secrets_module
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from billing.plans import Limit
from billing.services import limit_check
from integrations import http
from marketing.models import Workspace

from . import client as n8n
from .client import N8nClient, N8nError
from .models import N8nConnection, N8nWorkflow, new_callback_secret
from .templates import CRYPTO_CREDENTIAL_TYPE, Template, template_get

logger = logging.getLogger(__name__)

# Connection ------------------------------------------------------------------------------------


def connection_ensure(*, workspace: Workspace) -> N8nConnection:
    """The workspace's connection row, created (with a fresh callback secret) on first use."""
    connection, _ = N8nConnection.objects.get_or_create(workspace=workspace)
    return connection


@dataclass(frozen=True)
class Endpoint:
    base_url: str
    api_key: str
    source: str  # "workspace", "platform" or "" when nothing is configured

    @property
    def configured(self) -> bool:
        return bool(self.base_url)


def endpoint_for(connection: N8nConnection | None) -> Endpoint:
    """The base URL and key to use: the workspace's own, else the platform's N8N_BASE_URL/N8N_API_KEY.

    The platform key only ever goes to the platform's n8n: a workspace that points at its own
    n8n without a key of its own gets no key, rather than ours.
    """
    platform_url = settings.N8N_BASE_URL.rstrip("/")
    own_url = (connection.base_url if connection else "").rstrip("/")
    own_key = connection.api_key if connection else ""
    if own_url and own_url != platform_url:
        return Endpoint(own_url, own_key, "workspace")
    if platform_url:
        return Endpoint(platform_url, own_key or settings.N8N_API_KEY, "platform")
    return Endpoint("", own_key, "")


def client_for(connection: N8nConnection | None) -> N8nClient:
    endpoint = endpoint_for(connection)
    if not endpoint.configured:
        raise N8nError(
            "No n8n is configured. Enter your n8n's base URL and API key on the n8n connection page "
            "(or set N8N_BASE_URL and N8N_API_KEY for the whole platform).",
            kind=n8n.NOT_CONFIGURED,
        )
    return N8nClient(endpoint.base_url, endpoint.api_key)


@transaction.atomic
def connection_update(
    *, connection: N8nConnection, base_url: str, api_key: str = "", clear_api_key: bool = False
) -> N8nConnection:
    """Saves the base URL and, when given, a new API key (an empty key keeps the current one).

    A key belongs to one n8n: moving to another base URL without a new key drops the stored one,
    so it is never sent to a server it was not made for.
    """
    new_url = base_url.strip().rstrip("/")
    if new_url and not new_url.lower().startswith(("http://", "https://")):
        raise ValidationError({"base_url": "Enter an http(s) URL."})
    if new_url and (problem := http.private_host_problem(new_url)):
        raise ValidationError({"base_url": problem})
    moved = new_url != connection.base_url.rstrip("/")
    connection.base_url = new_url
    if clear_api_key or (moved and not api_key.strip()):
        connection.api_key = ""
    elif api_key.strip():
        connection.api_key = api_key.strip()
    connection.last_error = ""
    connection.last_checked_at = None
    connection.full_clean()
    connection.save()
    return connection


@dataclass(frozen=True)
class ConnectionCheck:
    ok: bool
    message: str
    kind: str = ""


def connection_test(*, connection: N8nConnection) -> ConnectionCheck:
    """Lists one workflow with the key, and says precisely what is wrong when that fails."""
    try:
        client = client_for(connection)
        client.check()
    except N8nError as error:
        check = ConnectionCheck(ok=False, message=error.message, kind=error.kind)
    else:
        check = ConnectionCheck(ok=True, message=f"Connected to n8n at {client.base_url}; the API key works.")
    N8nConnection.objects.filter(pk=connection.pk).update(
        last_checked_at=timezone.now(), last_error="" if check.ok else check.message[:2000]
    )
    connection.refresh_from_db(fields=["last_checked_at", "last_error"])
    return check


def secrets_rotate(*, connection: N8nConnection) -> N8nConnection:
    """New run token and callback secret, each pushed into its n8n credential before it is saved.

    Runs in flight at that moment carry the old ones: their callbacks no longer verify and they
    end as "no callback".
    """
    endpoint = endpoint_for(connection)
    in_n8n = connection.n8n_credentials if connection.credential_base_url.rstrip("/") == endpoint.base_url else {}
    for key, field in (("trigger", "trigger_token"), ("callback", "callback_secret")):
        setattr(connection, field, new_callback_secret())
        if in_n8n.get(key):
            type, data = WORKSPACE_CREDENTIALS[key](connection)
            try:
                client_for(connection).update_credential(
                    in_n8n[key], name=_credential_name(connection.workspace, key), type=type, data=data
                )
            except N8nError as error:
                if error.kind != n8n.NOT_FOUND:  # gone from n8n: the next install creates it again
                    connection.refresh_from_db(fields=[field])
                    raise
        connection.save(update_fields=[field])
    return connection


TRIGGER_HEADER = "X-Marketing-Token"
# The workspace's credentials in n8n: key -> (n8n credential type, its data).
WORKSPACE_CREDENTIALS = {
    "callback": lambda connection: (CRYPTO_CREDENTIAL_TYPE, {"hmacSecret": connection.callback_secret}),
    "trigger": lambda connection: ("httpHeaderAuth", {"name": TRIGGER_HEADER, "value": connection.trigger_token}),
}
_CREDENTIAL_LABELS = {"callback": "callback secret", "trigger": "run token"}


def _credential_name(workspace: Workspace, key: str) -> str:
    return f"Marketing · {workspace.name} · {_CREDENTIAL_LABELS.get(key, key)}"[:120]


def _ensure_workspace_credentials(connection: N8nConnection, client: N8nClient) -> dict[str, tuple[str, str]]:
    """The n8n credentials holding the callback secret and the run token: updated in place, or created."""
    same_n8n = connection.credential_base_url.rstrip("/") == client.base_url
    known = dict(connection.n8n_credentials or {}) if same_n8n else {}
    result = {}
    for key, spec in WORKSPACE_CREDENTIALS.items():
        type, data = spec(connection)
        name = _credential_name(connection.workspace, key)
        known[key] = _upsert_credential(client, credential_id=known.get(key, ""), name=name, type=type, data=data)
        result[key] = (known[key], name)
    if known != connection.n8n_credentials or not same_n8n:
        connection.n8n_credentials, connection.credential_base_url = known, client.base_url
        connection.save(update_fields=["n8n_credentials", "credential_base_url"])
    return result


def _upsert_credential(client: N8nClient, *, credential_id: str, name: str, type: str, data: dict[str, Any]) -> str:
    if credential_id:
        try:
            client.update_credential(credential_id, name=name, type=type, data=data)
            return credential_id
        except N8nError as error:
            if error.kind != n8n.NOT_FOUND:
                raise
    created = client.create_credential(name=name, type=type, data=data)
    return str(created["id"])


# Templates -------------------------------------------------------------------------------------


def _workflow_name(workspace: Workspace, template: Template) -> str:
    return f"Marketing · {workspace.name} · {template.name}"[:128]


def _webhook_path(workspace: Workspace, template: Template) -> str:
    """Unique per workspace and template, and unguessable: it is the way into the workflow."""
    return f"mkt-{workspace.slug[:40]}-{template.key}-{secrets_module.token_hex(6)}"


def _clean_params(template: Template, raw: dict[str, str], existing: N8nWorkflow | None) -> tuple[dict, dict]:
    """(plain params to store, secret params to send into credentials), validated."""
    plain: dict[str, str] = {}
    secret: dict[str, str] = {}
    stored_credentials = (existing.params.get("_credentials", {}) if existing else {}) or {}
    errors: dict[str, list[str]] = {}
    for param in template.params:
        value = (raw.get(param.name) or "").strip()
        if not value and param.kind != "secret" and existing is not None:
            value = str(existing.params.get(param.name, ""))
        if not value and param.kind != "secret":
            value = param.initial
        try:
            if param.kind == "secret":
                has_credential = any(
                    param.name in spec.data.values() and stored_credentials.get(spec.key)
                    for spec in template.credentials
                )
                if value:
                    secret[param.name] = param.validate(value)
                elif param.required and not has_credential:
                    raise ValidationError(f"{param.label} is required.")
            elif value or param.required:
                plain[param.name] = param.validate(value)
            else:
                plain[param.name] = ""
        except ValidationError as error:
            errors[param.name] = error.messages
    if errors:
        raise ValidationError(errors)
    return plain, secret


def workflow_install(
    *, workspace: Workspace, template_key: str, params: dict[str, str] | None = None
) -> N8nWorkflow:
    """Creates (or, when installed already, updates) the template's workflow in n8n and activates it.

    Records the n8n id and the production webhook path. A workflow that n8n created but would
    not activate is kept, inactive, with n8n's reason, and the N8nError is raised.
    """
    template = template_get(template_key)
    if template is None:
        raise ValidationError(f"There is no n8n template {template_key!r}.")
    existing = N8nWorkflow.objects.filter(workspace=workspace, template_key=template.key).first()
    if existing is None:
        limit_check(workspace=workspace, limit=Limit.N8N_WORKFLOWS)
    plain, secret = _clean_params(template, params or {}, existing)
    connection = connection_ensure(workspace=workspace)
    client = client_for(connection)

    credentials = _ensure_workspace_credentials(connection, client)
    stored_credentials = dict((existing.params.get("_credentials", {}) if existing else {}) or {})
    for spec in template.credentials:
        name = f"Marketing · {workspace.name} · {spec.label}"[:120]
        data = {field: secret[param] for field, param in spec.data.items() if param in secret}
        if data:
            stored_credentials[spec.key] = _upsert_credential(
                client, credential_id=stored_credentials.get(spec.key, ""), name=name, type=spec.type, data=data
            )
        credentials[spec.key] = (stored_credentials[spec.key], name)

    webhook_path = existing.webhook_path if existing else _webhook_path(workspace, template)
    body = template.render(
        workflow_name=_workflow_name(workspace, template), webhook_path=webhook_path, params=plain, credentials=credentials
    )
    created_id = None
    n8n_id = existing.n8n_id if existing else ""
    if n8n_id:
        try:
            client.update_workflow(n8n_id, body)
        except N8nError as error:
            if error.kind != n8n.NOT_FOUND:
                raise
            n8n_id = ""  # deleted in n8n, or another n8n now: install it afresh
    if not n8n_id:
        created_id = n8n_id = str(client.create_workflow(body)["id"])

    fields = {
        "name": body["name"][:200],
        "n8n_id": n8n_id,
        "webhook_path": webhook_path,
        "params": {**plain, "_credentials": stored_credentials},
        "active": False,
        "last_error": "",
    }
    try:
        with transaction.atomic():
            if existing is None:
                workflow = N8nWorkflow.objects.create(workspace=workspace, template_key=template.key, **fields)
            else:
                N8nWorkflow.objects.filter(pk=existing.pk).update(updated_at=timezone.now(), **fields)
                workflow = N8nWorkflow.objects.get(pk=existing.pk)
    except IntegrityError:
        # Someone installed the same template at the same moment; theirs stays, ours goes.
        _delete_quietly(client, created_id)
        raise ValidationError("This template was just installed by someone else. Reload the page.")

    try:
        client.activate_workflow(n8n_id)
    except N8nError as error:
        N8nWorkflow.objects.filter(pk=workflow.pk).update(last_error=error.message[:2000])
        workflow.last_error = error.message
        raise
    N8nWorkflow.objects.filter(pk=workflow.pk).update(active=True)
    workflow.active = True
    logger.info(
        "n8n template installed",
        extra={"workspace_id": workspace.pk, "template": template.key, "n8n_workflow_id": n8n_id},
    )
    return workflow


def workflow_reinstall(*, workflow: N8nWorkflow, params: dict[str, str] | None = None) -> N8nWorkflow:
    """Updates the installed workflow from the current template (PUT) and activates it again."""
    return workflow_install(workspace=workflow.workspace, template_key=workflow.template_key, params=params)


def workflow_uninstall(*, workflow: N8nWorkflow) -> str:
    """Deletes the workflow in n8n and here. Returns a warning when n8n could not be told."""
    warning = ""
    try:
        client = client_for(connection_ensure(workspace=workflow.workspace))
        client.delete_workflow(workflow.n8n_id)
    except N8nError as error:
        if error.kind != n8n.NOT_FOUND:
            warning = f"Removed here, but n8n could not delete the workflow: {error.message}"
    workflow.delete()
    return warning


def _delete_quietly(client: N8nClient, workflow_id: str | None) -> None:
    if not workflow_id:
        return
    try:
        client.delete_workflow(workflow_id)
    except N8nError:
        logger.warning("could not delete a duplicate n8n workflow", extra={"n8n_workflow_id": workflow_id})
