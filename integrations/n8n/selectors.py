"""Reads for n8n: the workspace's connection and workflows, and its recent executions in n8n."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet
from django.utils.dateparse import parse_datetime

from campaigns.models import CampaignExecution, ExecutionStep
from marketing.models import Workspace

from .client import N8nError
from .destination import KEY as DESTINATION_KEY
from .models import N8nConnection, N8nWorkflow

# Workflows and executions per workflow read for the monitoring page.
MONITORED_WORKFLOWS = 10
EXECUTIONS_PER_WORKFLOW = 20


def connection_for(*, workspace: Workspace) -> N8nConnection | None:
    return N8nConnection.objects.filter(workspace=workspace).first()


def workflow_list(*, workspace: Workspace) -> QuerySet[N8nWorkflow]:
    return N8nWorkflow.objects.filter(workspace=workspace).order_by("name")


@dataclass(frozen=True)
class RecentExecution:
    n8n_id: str
    workflow: N8nWorkflow
    status: str
    mode: str
    started_at: datetime | None
    stopped_at: datetime | None
    execution: CampaignExecution | None  # our run, when n8n's callback told us its id


def recent_executions(*, workspace: Workspace, limit: int = 50) -> tuple[list[RecentExecution], list[str]]:
    """The latest n8n executions of the workspace's workflows, newest first, and any errors met."""
    from .services import client_for

    workflows = list(workflow_list(workspace=workspace)[:MONITORED_WORKFLOWS])
    if not workflows:
        return [], []
    try:
        client = client_for(connection_for(workspace=workspace))
    except N8nError as error:
        return [], [error.message]
    rows: list[tuple[dict, N8nWorkflow]] = []
    errors: list[str] = []
    for workflow in workflows:
        try:
            items = client.list_executions(workflow_id=workflow.n8n_id, limit=EXECUTIONS_PER_WORKFLOW)
        except N8nError as error:
            errors.append(f"{workflow.name}: {error.message}")
            if error.kind in ("unreachable", "bad_key", "api_disabled", "circuit_open"):
                break  # the same for every workflow
            continue
        rows.extend((item, workflow) for item in items if isinstance(item, dict))
    ids = {str(item.get("id")) for item, _ in rows}
    ours = {
        step.external_id: step.execution
        for step in ExecutionStep.objects.filter(
            execution__workspace=workspace, destination=DESTINATION_KEY, external_id__in=ids
        ).select_related("execution__campaign")
    }
    recent = [
        RecentExecution(
            n8n_id=str(item.get("id")),
            workflow=workflow,
            status=str(item.get("status") or ("success" if item.get("finished") else "unknown")),
            mode=str(item.get("mode") or ""),
            started_at=_when(item.get("startedAt")),
            stopped_at=_when(item.get("stoppedAt")),
            execution=ours.get(str(item.get("id"))),
        )
        for item, workflow in rows
    ]
    recent.sort(key=lambda row: row.started_at.timestamp() if row.started_at else 0.0, reverse=True)
    return recent[:limit], errors


def _when(value: object) -> datetime | None:
    return parse_datetime(value) if isinstance(value, str) else None
