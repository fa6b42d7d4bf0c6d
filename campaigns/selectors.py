from django.db.models import OuterRef, Prefetch, Q, QuerySet, Subquery

from marketing.models import Workspace

from .models import Campaign, CampaignExecution, CampaignImage, CampaignStatus, ImageGeneration

SORTS = {
    "updated": "-updated_at",
    "created": "-created_at",
    "name": "name",
    "status": "status",
}
DEFAULT_SORT = "updated"


def campaign_list(*, workspace: Workspace, search: str = "", status: str = "", sort: str = DEFAULT_SORT) -> QuerySet[Campaign]:
    """The workspace's campaigns with their first image and last run, in a fixed number of queries."""
    latest = CampaignExecution.objects.filter(campaign=OuterRef("pk")).order_by("-queued_at", "-id")
    queryset = (
        Campaign.objects.filter(workspace=workspace)
        .annotate(
            last_run_status=Subquery(latest.values("status")[:1]),
            last_run_at=Subquery(latest.values("queued_at")[:1]),
        )
        .prefetch_related(Prefetch("images", queryset=CampaignImage.objects.order_by("position", "id")))
    )
    if status == "all":
        pass
    elif status in CampaignStatus.values:
        queryset = queryset.filter(status=status)
    else:
        queryset = queryset.exclude(status=CampaignStatus.ARCHIVED)
    if search:
        queryset = queryset.filter(Q(name__icontains=search) | Q(caption__icontains=search))
    return queryset.order_by(SORTS.get(sort, SORTS[DEFAULT_SORT]), "-id")


def campaign_for_detail(*, workspace: Workspace) -> QuerySet[Campaign]:
    return Campaign.objects.filter(workspace=workspace).select_related(
        "created_by", "updated_by", "instagram_account", "n8n_workflow"
    )


def destination_choices(*, workspace: Workspace) -> dict[str, list[tuple[str, str, dict]]]:
    """Where the workspace's campaigns can publish, grouped for a select: (key, label, service kwargs)."""
    from integrations.instagram.models import InstagramAccount
    from integrations.n8n.models import N8nWorkflow

    none = {"instagram_account": None, "n8n_workflow": None}
    return {
        "Instagram": [
            (f"ig:{account.pk}", f"@{account.username}" + ("" if account.can_publish else f" ({account.get_status_display().lower()})"), {**none, "instagram_account": account})
            for account in InstagramAccount.objects.filter(workspace=workspace).exclude(status="disconnected")
        ],
        "n8n workflows": [
            (f"n8n:{workflow.pk}", workflow.name, {**none, "n8n_workflow": workflow})
            for workflow in N8nWorkflow.objects.filter(workspace=workspace)
        ],
    }


def destination_key(campaign: Campaign) -> str:
    if campaign.instagram_account_id:
        return f"ig:{campaign.instagram_account_id}"
    if campaign.n8n_workflow_id:
        return f"n8n:{campaign.n8n_workflow_id}"
    return ""


def execution_history(*, campaign: Campaign, limit: int = 20) -> list[CampaignExecution]:
    return list(
        campaign.executions.select_related("requested_by").prefetch_related("steps").order_by("-queued_at", "-id")[:limit]
    )


def latest_generation(*, campaign: Campaign) -> ImageGeneration | None:
    return campaign.generations.order_by("-created_at", "-id").first()


def executions_for_workspace(*, workspace: Workspace) -> QuerySet[CampaignExecution]:
    return CampaignExecution.objects.filter(workspace=workspace).select_related("campaign")
