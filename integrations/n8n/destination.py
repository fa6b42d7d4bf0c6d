"""n8n as a campaign destination (see ``campaigns/destinations.py``): a target is an installed workflow."""

from __future__ import annotations

from campaigns.destinations import Choice, Destination, StepOutcome
from campaigns.models import CampaignExecution, ExecutionStep

from .models import N8nWorkflow

KEY = "n8n"


class N8nDestination(Destination):
    key = KEY
    label = "n8n"
    group = "n8n workflows"
    model = N8nWorkflow
    # n8n calls back per run (the callback URL names the execution), so one workflow per campaign.
    max_per_campaign = 1

    def publish(self, *, execution: CampaignExecution, step: ExecutionStep, caption: str) -> StepOutcome:
        from . import runs

        return runs.run_handoff(execution=execution, step=step, caption=caption)

    def describe(self, obj: N8nWorkflow) -> Choice:
        return Choice(key=f"{KEY}:{obj.pk}", label=obj.name)
