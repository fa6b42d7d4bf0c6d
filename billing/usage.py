"""How much of each limited thing a workspace has, counted in one query.

One place per limit, so the selector, the pages and the checks count alike.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from .plans import Limit


def _counted(queryset: QuerySet, workspace_field: str = "workspace") -> Coalesce:
    """A correlated COUNT(*) of ``queryset``'s rows in the outer workspace."""
    counts = (
        queryset.filter(**{workspace_field: OuterRef("pk")})
        .order_by()
        .values(workspace_field)
        .annotate(n=Count("*"))
        .values("n")
    )
    return Coalesce(Subquery(counts, output_field=IntegerField()), Value(0))


def usage_expressions(period_start: datetime) -> dict[str, Coalesce]:
    from campaigns.models import Campaign, CampaignExecution, CampaignStatus, ExecutionStatus, GenerationStatus, ImageGeneration
    from integrations.instagram.models import AccountStatus, InstagramAccount
    from integrations.n8n.models import N8nWorkflow
    from marketing.models import Invitation, Membership
    from triggers.models import Trigger

    now = timezone.now()
    return {
        Limit.INSTAGRAM_ACCOUNTS: _counted(InstagramAccount.objects.exclude(status=AccountStatus.DISCONNECTED)),
        Limit.CAMPAIGNS: _counted(Campaign.objects.exclude(status=CampaignStatus.ARCHIVED)),
        # Cancelled runs, skipped ones included, never published anything.
        Limit.RUNS_PER_MONTH: _counted(
            CampaignExecution.objects.filter(queued_at__gte=period_start).exclude(status=ExecutionStatus.CANCELLED)
        ),
        # Placeholders drawn when OpenAI failed cost nothing and do not count.
        Limit.AI_IMAGES_PER_MONTH: _counted(
            ImageGeneration.objects.filter(created_at__gte=period_start, status=GenerationStatus.SUCCEEDED),
            "campaign__workspace",
        ),
        Limit.ACTIVE_TRIGGERS: _counted(Trigger.objects.filter(enabled=True)),
        Limit.MEMBERS: _counted(Membership.objects.all())
        + _counted(Invitation.objects.filter(Q(accepted_at__isnull=True) & Q(expires_at__gt=now))),
        Limit.N8N_WORKFLOWS: _counted(N8nWorkflow.objects.all()),
    }
