"""Instagram as a campaign destination: the engine's publish step calls ``InstagramDestination.publish``."""

from __future__ import annotations

from dataclasses import dataclass

from campaigns.destinations import StepOutcome
from campaigns.models import Campaign, CampaignExecution, ExecutionStep


@dataclass(frozen=True)
class InstagramDestination:
    account_id: int
    label: str = "Instagram"

    def publish(self, *, execution: CampaignExecution, step: ExecutionStep, caption: str) -> StepOutcome:
        from . import services

        return services.execution_publish(execution=execution, step=step, caption=caption)


def resolve(campaign: Campaign) -> InstagramDestination | None:
    """The campaign's Instagram destination, when it targets an account."""
    if campaign.instagram_account_id:
        return InstagramDestination(account_id=campaign.instagram_account_id)
    return None
