"""Instagram as a campaign destination (see ``campaigns/destinations.py``): a target is an account."""

from __future__ import annotations

from django.db.models import QuerySet
from django.urls import reverse

from campaigns.destinations import Choice, Destination, InsightsPanel, StepOutcome, TimingHint
from campaigns.models import Campaign, CampaignExecution, ExecutionStep

from .models import AccountStatus, InstagramAccount

KEY = "instagram"


class InstagramDestination(Destination):
    key = KEY
    label = "Instagram"
    group = "Instagram accounts"
    model = InstagramAccount
    checks_spacing = True

    def publish(self, *, execution: CampaignExecution, step: ExecutionStep, caption: str) -> StepOutcome:
        from . import publishing

        return publishing.execution_publish(execution=execution, step=step, caption=caption)

    def offered(self, obj: InstagramAccount) -> bool:
        return obj.status != AccountStatus.DISCONNECTED

    def describe(self, obj: InstagramAccount) -> Choice:
        note = "" if obj.can_publish else obj.get_status_display().lower()
        return Choice(key=f"{KEY}:{obj.pk}", label=f"@{obj.username}", ready=obj.can_publish, note=note)

    def insights(self, *, campaign: Campaign) -> InsightsPanel | None:
        from .selectors import campaign_insights

        posts = campaign_insights(campaign=campaign)
        return InsightsPanel(template="instagram/_campaign_insights.html", data=posts) if posts else None

    def timing_hint(self, obj: InstagramAccount) -> TimingHint | None:
        from .selectors import best_times

        best = best_times(account=obj).best
        if not best:
            return None
        url = reverse("instagram_analytics", args=[obj.pk]) + "#best-times"
        return TimingHint(label=f"@{obj.username}", times=[slot.label for slot in best], url=url)

    def needs_reconnect(self) -> QuerySet:
        return InstagramAccount.objects.filter(status=AccountStatus.NEEDS_RECONNECT)

    def daily_quota(self, obj: InstagramAccount) -> int | None:
        return obj.quota_total
