from django.db.models import Count, Q, QuerySet

from campaigns.models import Campaign, CampaignStatus
from marketing.models import Workspace
from triggers.models import EVENT_KINDS, Trigger

from .models import ContentItem, ContentSource, ItemStatus


def source_list(*, workspace: Workspace) -> QuerySet[ContentSource]:
    return (
        ContentSource.objects.filter(workspace=workspace)
        .select_related("trigger")
        .annotate(
            item_count=Count("items", filter=~Q(items__status=ItemStatus.BASELINE)),
            failed_count=Count("items", filter=Q(items__status=ItemStatus.FAILED)),
        )
        .order_by("name", "id")
    )


def source_for_detail(*, workspace: Workspace) -> QuerySet[ContentSource]:
    return ContentSource.objects.filter(workspace=workspace).select_related("trigger", "template_campaign")


def item_list(*, source: ContentSource) -> QuerySet[ContentItem]:
    return source.items.select_related("campaign").order_by("-imported_at", "-id")


def item_list_for_workspace(*, workspace: Workspace) -> QuerySet[ContentItem]:
    return ContentItem.objects.filter(workspace=workspace).select_related("campaign", "source").order_by("-imported_at", "-id")


def trigger_choices(*, workspace: Workspace) -> QuerySet[Trigger]:
    return Trigger.objects.filter(workspace=workspace, kind__in=EVENT_KINDS).order_by("name", "id")


def template_campaign_choices(*, workspace: Workspace) -> QuerySet[Campaign]:
    return Campaign.objects.filter(workspace=workspace).exclude(status=CampaignStatus.ARCHIVED).order_by("name", "id")
