"""Runs handed to n8n: the signed hand-off to a workflow's webhook, n8n's signed callback that
finishes the run's publish step, and runs that never called back.

The campaign engine calls ``run_handoff`` through ``destination.py``; the callback view calls
``callback_receive``; the beat task calls ``waiting_runs_expire``. The secrets these use are
described and kept in ``services.py``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from django.conf import settings
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from campaigns.destinations import RetryLater, StepFailed, StepOutcome
from campaigns.executions import step_record_result, step_resume_from_callback, step_save_state
from campaigns.models import CampaignExecution, ErrorCategory, ExecutionStatus, ExecutionStep, StepStatus
from campaigns.selectors import publishable_images
from marketing.webhooks import payload as webhook_payload
from marketing.webhooks import signature

from . import client as n8n
from .client import N8nError
from .destination import KEY as DESTINATION_KEY
from .models import N8nConnection, N8nWorkflow
from .services import TRIGGER_HEADER, client_for, connection_ensure
from .signing import canonical_json, sign_payload
from .templates import template_get

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
    images = publishable_images(campaign=campaign)
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
                "format": campaign.format,
            },
            "caption": caption,
            "hashtags": hashtags,
            "image_urls": [image.public_url for image in images],
            # In the same order as image_urls; "" where none was written.
            "image_alt_texts": [image.alt_text for image in images],
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
