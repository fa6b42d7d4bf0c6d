"""n8n as a campaign destination: the engine's publish step calls ``N8nDestination.publish``."""

from __future__ import annotations

from dataclasses import dataclass

from campaigns.destinations import StepOutcome
from campaigns.models import Campaign, CampaignExecution, ExecutionStep


@dataclass(frozen=True)
class N8nDestination:
    workflow_id: int
    label: str = "n8n"

    def publish(self, *, execution: CampaignExecution, step: ExecutionStep, caption: str) -> StepOutcome:
        from . import services

        return services.run_handoff(execution=execution, step=step, caption=caption)


def resolve(campaign: Campaign) -> N8nDestination | None:
    """The campaign's n8n destination, when it publishes through an installed workflow."""
    if campaign.n8n_workflow_id:
        return N8nDestination(workflow_id=campaign.n8n_workflow_id)
    return None
