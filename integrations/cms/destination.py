"""WordPress as a campaign destination (see ``campaigns/destinations.py``): a target is a WordPress
site connected under Sources, with its user name and application password."""

from __future__ import annotations

from django.db.models import QuerySet

from campaigns.destinations import Choice, Destination, StepFailed, StepOutcome
from campaigns.models import CampaignExecution, ErrorCategory, ExecutionStep

from .models import ContentSource, SourceKind

KEY = "wordpress"


class WordPressDestination(Destination):
    key = KEY
    label = "WordPress"
    group = "WordPress sites"
    model = ContentSource

    def queryset(self, *, workspace_id: int) -> QuerySet:
        return ContentSource.objects.filter(workspace_id=workspace_id, kind=SourceKind.WORDPRESS)

    def offered(self, obj: ContentSource) -> bool:
        return bool(obj.wp_username and obj.wp_app_password)

    def describe(self, obj: ContentSource) -> Choice:
        ready = bool(obj.wp_username and obj.wp_app_password)
        return Choice(
            key=f"{KEY}:{obj.pk}",
            label=obj.site_title or obj.name,
            ready=ready,
            note="" if ready else "no application password",
        )

    def publish(self, *, execution: CampaignExecution, step: ExecutionStep, caption: str) -> StepOutcome:
        from . import publishing

        site = self.queryset(workspace_id=execution.workspace_id).filter(pk=step.object_id).first()
        if site is None:
            raise StepFailed("The WordPress site was removed from Sources.", category=ErrorCategory.VALIDATION)
        return publishing.publish(execution=execution, step=step, site=site)
