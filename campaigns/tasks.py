import logging

from celery import shared_task
from django.conf import settings
from django.urls import reverse

from marketing.emails import send_templated
from marketing.models import User

from . import approval, executions, scheduling, services
from .destinations import RetryLater
from .models import Campaign, CampaignComment

logger = logging.getLogger(__name__)


@shared_task(bind=True, acks_late=True, max_retries=None)
def run_execution(self, execution_id: int) -> None:
    """Runs one execution; transient failures come back later, the service bounds the attempts."""
    try:
        executions.execution_run(execution_id=execution_id)
    except RetryLater as retry:
        raise self.retry(countdown=retry.countdown)


@shared_task(acks_late=True)
def generate_image(generation_id: int) -> None:
    services.image_generation_run(generation_id=generation_id)


@shared_task
def recover_stale_executions() -> int:
    """Beat: requeues runs and image generations whose task or worker was lost."""
    return executions.execution_recover_stale() + services.image_generation_recover_stale()


@shared_task
def dispatch_due_runs() -> int:
    """Beat: starts the executions of every schedule that is due (safe to run twice at once)."""
    return scheduling.dispatch_due_runs()


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_approval_request(campaign_id: int) -> None:
    """Emails the workspace's owners and admins (not the one who asked) a campaign waiting for their approval."""
    campaign = (
        Campaign.objects.select_related("workspace", "approval_requested_by")
        .filter(pk=campaign_id, approval_requested_at__isnull=False)
        .first()
    )
    if campaign is None:
        return
    to = approval.approver_emails(workspace=campaign.workspace, besides=campaign.approval_requested_by)
    if to:
        url = settings.PUBLIC_BASE_URL + campaign.get_absolute_url()
        send_templated("campaigns/email/approval_request", {"campaign": campaign, "url": url}, to)


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_approval_requests(campaign_ids: list[int]) -> None:
    """One email to the owners and admins (not the one who asked) for campaigns asked about together."""
    campaigns = list(
        Campaign.objects.select_related("workspace", "approval_requested_by")
        .filter(pk__in=campaign_ids, approval_requested_at__isnull=False)
        .order_by("name", "pk")
    )
    if not campaigns:
        return
    asked_by = campaigns[0].approval_requested_by
    to = approval.approver_emails(workspace=campaigns[0].workspace, besides=asked_by)
    if to:
        links = [(campaign, settings.PUBLIC_BASE_URL + campaign.get_absolute_url()) for campaign in campaigns]
        context = {"links": links, "workspace": campaigns[0].workspace, "asked_by": asked_by}
        send_templated("campaigns/email/approval_requests", context, to)


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_changes_requested(campaign_id: int, user_id: int) -> None:
    """Emails the member who asked for approval what an owner or admin wants changed."""
    campaign = (
        Campaign.objects.select_related("workspace", "changes_requested_by")
        .filter(pk=campaign_id, changes_requested_at__isnull=False)
        .first()
    )
    user = User.objects.filter(pk=user_id, is_active=True).first()
    if campaign is None or user is None:
        return
    url = settings.PUBLIC_BASE_URL + campaign.get_absolute_url()
    send_templated("campaigns/email/changes_requested", {"campaign": campaign, "url": url}, [user.email])


@shared_task(autoretry_for=(OSError,), retry_backoff=True, max_retries=5)
def send_comment_notification(comment_id: int) -> None:
    """Emails a new comment to the people following the campaign and those it mentions, one message each."""
    comment = CampaignComment.objects.select_related("campaign__workspace", "author").filter(pk=comment_id).first()
    if comment is None:
        return
    context = {
        "comment": comment,
        "campaign": comment.campaign,
        "url": settings.PUBLIC_BASE_URL + comment.campaign.get_absolute_url() + "#comments",
        "settings_url": settings.PUBLIC_BASE_URL + reverse("account_settings"),
    }
    for recipient in services.comment_recipients(comment=comment):
        send_templated("campaigns/email/comment", {**context, "mentioned": recipient.mentioned}, [recipient.email])
