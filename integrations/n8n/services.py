"""Writes for n8n: the connection, installed templates, runs handed to n8n, callbacks and timeouts.

Pages, the admin, the campaign engine (through ``destination.py``) and the beat task all come
through here.

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

import json
import logging
import secrets as secrets_module
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from billing.plans import Limit
from billing.services import limit_check
from campaigns.destinations import RetryLater, StepFailed, StepOutcome
from campaigns.models import CampaignExecution, ErrorCategory, ExecutionStatus, ExecutionStep, StepStatus
from campaigns.selectors import publishable_images
from campaigns.services import step_record_result, step_resume_from_callback, step_save_state
from integrations import http
from marketing.models import Workspace
from marketing.webhooks import payload as webhook_payload
from marketing.webhooks import signature

from . import client as n8n
from .client import N8nClient, N8nError
from .destination import KEY as DESTINATION_KEY
from .models import N8nConnection, N8nWorkflow, new_callback_secret
from .signing import canonical_json, sign_payload
from .templates import CRYPTO_CREDENTIAL_TYPE, Template, template_get

logger = logging.getLogger(__name__)

# A callback body larger than this is refused unread.
MAX_CALLBACK_BYTES = 64 * 1024
CALLBACK_STATUSES = {"success": True, "failure": False}
PAYLOAD_VERSION = 1
# Where in the publish step's state the n8n hand-off is recorded.
STATE_KEY = "n8n"
# Ids a callback's outputs may report, kept on the step for the run page and the API.
REPORTED_OUTPUTS = ("n8n_execution_id", "instagram_media_id", "instagram_permalink")
# Executions of a workflow read when looking for a run that never called back.
LOOKUP_LIMIT = 20


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


# Runs ------------------------------------------------------------------------------------------


def callback_url(execution: CampaignExecution) -> str:
    return settings.PUBLIC_BASE_URL + reverse("n8n_callback", args=[execution.uuid])


def callback_url_example() -> str:
    """The callback URL pattern, for the connection page."""
    sample = UUID(int=0)
    return (settings.PUBLIC_BASE_URL + reverse("n8n_callback", args=[sample])).replace(str(sample), "<run id>")


def run_payload(*, execution: CampaignExecution, caption: str, secret: str, now: datetime | None = None) -> dict:
    """What a run hands to n8n, signed (see ``signing``). Only strings, integers, lists and objects."""
    campaign = execution.campaign
    now = now or timezone.now()
    hashtags = [tag for tag in campaign.hashtags.split() if tag]
    return sign_payload(
        secret,
        {
            "event": "campaign.run",
            "version": PAYLOAD_VERSION,
            "execution_uuid": str(execution.uuid),
            "callback_url": callback_url(execution),
            "timestamp": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "workspace": {"slug": execution.workspace.slug, "name": execution.workspace.name},
            "campaign": {
                "id": campaign.pk,
                "name": campaign.name,
                "brief": campaign.brief,
                "caption": campaign.caption,
                "hashtags": campaign.hashtags,
                "first_comment": campaign.first_comment,
            },
            "caption": caption,
            "hashtags": hashtags,
            "image_urls": [image.public_url for image in publishable_images(campaign=campaign)],
        },
    )


def run_handoff(*, execution: CampaignExecution, step: ExecutionStep, caption: str) -> StepOutcome:
    """The publish step for a campaign with an n8n workflow: POST the run to the production webhook.

    The run then waits, with no worker held, until n8n calls back or the beat task gives up.
    A step already handed off (a redelivered task) is not handed off twice.
    """
    workflow = N8nWorkflow.objects.filter(pk=step.object_id, workspace_id=execution.workspace_id).first()
    if workflow is None:
        raise StepFailed(
            "The campaign's n8n workflow no longer exists. Install a template and choose it as the destination.",
            category=ErrorCategory.VALIDATION,
        )
    waiting = StepOutcome(detail=f"Handed to n8n workflow “{workflow.name}”; waiting for its callback.", waiting=True)
    if step.state.get(STATE_KEY, {}).get("handed_off_at"):
        return waiting
    connection = connection_ensure(workspace=execution.workspace)
    try:
        client = client_for(connection)
    except N8nError as error:
        raise StepFailed(error.message, category=ErrorCategory.VALIDATION) from None
    payload = run_payload(execution=execution, caption=caption, secret=connection.callback_secret)
    try:
        client.trigger_webhook(
            workflow.webhook_path,
            body=canonical_json(payload),
            headers={TRIGGER_HEADER: connection.trigger_token, "X-Marketing-Execution": str(execution.uuid)},
        )
    except N8nError as error:
        if error.kind in (n8n.FORBIDDEN, n8n.BAD_KEY):
            raise StepFailed(
                f"n8n refused the run's token for “{workflow.name}” (HTTP {error.status}). Reinstall the template "
                "on the n8n templates page to refresh it.",
                category=ErrorCategory.PROVIDER,
            ) from None
        if error.kind == n8n.NOT_FOUND:
            raise StepFailed(
                f"n8n has no active workflow listening for “{workflow.name}” (HTTP 404 on its production "
                "webhook). Reinstall the template on the n8n templates page, or activate the workflow in n8n.",
                category=ErrorCategory.PROVIDER,
            ) from None
        if error.retryable:
            raise RetryLater(error.message, countdown=max(30.0, error.retry_after or 0.0)) from None
        raise StepFailed(error.message, category=ErrorCategory.PROVIDER) from None
    step_save_state(
        step,
        **{
            STATE_KEY: {
                "workflow_id": workflow.pk,
                "n8n_workflow_id": workflow.n8n_id,
                "template": workflow.template_key,
                "handed_off_at": timezone.now().isoformat(),
            }
        },
    )
    return waiting


# Callbacks -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CallbackResult:
    status: int
    body: dict[str, Any]


def _refuse(status: int, error: str) -> CallbackResult:
    return CallbackResult(status, {"error": error})


def callback_receive(*, execution_uuid: UUID, body: bytes, signature_header: str | None) -> CallbackResult:
    """Verifies and applies n8n's callback for a run; every outcome is an HTTP status and a JSON body.

    Unknown run, or one that does not publish through n8n: 404. Signature (``X-Signature:
    t=…,v1=…`` with the run's id as target, see marketing.webhooks.signature) not made with the
    run's own workspace's secret, or stale: 401. A replay of an applied callback: 409. Not JSON, or not {status, message, outputs}: 400. A run
    already finished: 200 "already finished", nothing changes. A run whose hand-off is still in
    progress: 409, and the template's Call back node retries.
    """
    if len(body) > MAX_CALLBACK_BYTES:
        return _refuse(400, f"The body is larger than {MAX_CALLBACK_BYTES // 1024} KB.")
    execution = (
        CampaignExecution.objects.select_related("campaign", "workspace").filter(uuid=execution_uuid).first()
    )
    step = execution.steps.filter(name="publish", destination=DESTINATION_KEY).first() if execution else None
    if execution is None or step is None:
        return _refuse(404, "No run of an n8n campaign has this id.")
    connection = N8nConnection.objects.filter(workspace_id=execution.workspace_id).first()
    try:
        if connection is None or not connection.callback_secret:
            raise signature.SignatureError("missing", "This workspace has no n8n callback secret.")
        verified = signature.verify(
            secret=connection.callback_secret, target=str(execution.uuid), body=body, header=signature_header
        )
    except signature.SignatureError as error:
        logger.warning("n8n callback with a bad signature", extra={"execution_id": execution.pk, "reason": error.code})
        return _refuse(401, error.message)
    try:
        data = webhook_payload.parse(body, max_bytes=MAX_CALLBACK_BYTES)
    except webhook_payload.PayloadError as error:
        return _refuse(400, error.message)
    if not isinstance(data, dict) or data.get("status") not in CALLBACK_STATUSES:
        return _refuse(400, 'Expected a JSON object with "status": "success" or "failure".')
    message, outputs = data.get("message", ""), data.get("outputs", {})
    if message is None:
        message = ""
    if outputs is None:
        outputs = {}
    if not isinstance(message, str) or not isinstance(outputs, dict):
        return _refuse(400, '"message" must be a string and "outputs" an object.')
    if execution.is_finished:
        return CallbackResult(200, {"status": "already finished"})
    if step.status == StepStatus.RUNNING:
        # Not consumed: the template's Call back node sends this same signed request again.
        return _refuse(409, "The run is still being handed to n8n; try again in a moment.")
    try:
        signature.consume(verified)
    except signature.SignatureError as error:
        return _refuse(409, error.message)

    try:
        return _callback_apply(execution=execution, step=step, data=data, message=message, outputs=outputs)
    except BaseException:
        # Not applied: n8n may send the same signed callback again.
        signature.release(verified)
        raise


def _callback_apply(
    *, execution: CampaignExecution, step: ExecutionStep, data: dict, message: str, outputs: dict
) -> CallbackResult:
    succeeded = CALLBACK_STATUSES[data["status"]]
    with transaction.atomic():
        locked = CampaignExecution.objects.select_for_update().get(pk=execution.pk)
        step.refresh_from_db()
        if locked.is_finished or step.status != StepStatus.WAITING:
            return CallbackResult(200, {"status": "already finished"})
        step_save_state(
            step,
            **{STATE_KEY: {**step.state.get(STATE_KEY, {}), "callback": {"status": data["status"], "outputs": _small(outputs)}}},
        )
        n8n_execution_id = str(outputs.get("n8n_execution_id") or "")[:64]
        step_record_result(
            step,
            external_id=n8n_execution_id,
            outputs={key: outputs.get(key) for key in REPORTED_OUTPUTS if outputs.get(key)},
        )
        default = "n8n reported success." if succeeded else "n8n reported a failure."
        finished = step_resume_from_callback(step=step, succeeded=succeeded, message=message.strip()[:2000] or default)
    if not finished:
        return CallbackResult(200, {"status": "already finished"})
    execution.refresh_from_db(fields=["status"])
    return CallbackResult(200, {"status": "ok", "execution": execution.status})


def _small(outputs: dict[str, Any]) -> dict[str, Any]:
    """The outputs, kept only when small enough to sit in the step's state."""
    text = json.dumps(outputs, ensure_ascii=False, default=str)
    return outputs if len(text) <= 4000 else {"truncated": text[:4000]}


# Runs that never called back ---------------------------------------------------------------------


def _timeout_minutes(template_key: str | None) -> int:
    template = template_get(template_key or "")
    extra = template.callback_timeout_minutes if template else None
    return max(settings.N8N_CALLBACK_TIMEOUT_MINUTES, extra or 0)


def waiting_runs_expire(*, now: datetime | None = None) -> int:
    """Fails runs that waited for n8n longer than allowed, saying what n8n knows of them."""
    now = now or timezone.now()
    cutoff = now - timedelta(minutes=settings.N8N_CALLBACK_TIMEOUT_MINUTES)
    steps = (
        ExecutionStep.objects.filter(
            name="publish",
            destination=DESTINATION_KEY,
            status=StepStatus.WAITING,
            execution__status=ExecutionStatus.RUNNING,
            started_at__lt=cutoff,
        )
        .select_related("execution__campaign", "execution__workspace")
        .order_by("started_at")[:200]
    )
    expired = 0
    for step in steps:
        info = step.state.get(STATE_KEY)
        if not info:
            continue  # waiting on another system
        minutes = _timeout_minutes(info.get("template"))
        handed_off_at = parse_datetime(info.get("handed_off_at") or "") or step.started_at
        if handed_off_at > now - timedelta(minutes=minutes):
            continue
        execution = step.execution
        said = _ask_n8n_about(step, info)
        message = f"No callback from n8n within {minutes} minutes. {said}".strip()
        if step_resume_from_callback(step=step, succeeded=False, message=message, category=ErrorCategory.TIMEOUT):
            expired += 1
            logger.warning("n8n run expired without a callback", extra={"execution_id": execution.pk})
    return expired


def _ask_n8n_about(step: ExecutionStep, info: dict[str, Any]) -> str:
    """Best effort: what n8n's executions API says about this run, in one sentence."""
    execution = step.execution
    try:
        client = client_for(connection_ensure(workspace=execution.workspace))
        if step.external_id:
            found = client.get_execution(step.external_id, include_data=True)
        else:
            found = None
            needle = str(execution.uuid)
            for item in client.list_executions(
                workflow_id=info.get("n8n_workflow_id"), limit=LOOKUP_LIMIT, include_data=True
            ):
                if needle in json.dumps(item.get("data") or {}, default=str):
                    found = item
                    break
            if found is None:
                return (
                    f"n8n shows no execution for this run among the workflow's last {LOOKUP_LIMIT}: "
                    "the webhook call may not have started one."
                )
            found_id = str(found.get("id", ""))
            step_record_result(step, external_id=found_id, outputs={"n8n_execution_id": found_id})
    except N8nError as error:
        return f"n8n could not be asked what happened: {error.message}"
    return describe_execution(found)


def describe_execution(item: dict[str, Any]) -> str:
    status = item.get("status") or ("success" if item.get("finished") else "unknown")
    result = ((item.get("data") or {}).get("resultData") or {}) if isinstance(item.get("data"), dict) else {}
    error = result.get("error") or {}
    last_node = result.get("lastNodeExecuted")
    text = f"n8n says execution {item.get('id', '?')} is “{status}”"
    if last_node:
        text += f", last at node “{last_node}”"
    if isinstance(error, dict) and error.get("message"):
        text += f": {str(error['message'])[:300]}"
    if status == "success":
        text += "; its callback never arrived (check the Call back node and that PUBLIC_BASE_URL is reachable from n8n)"
    return text + "."
