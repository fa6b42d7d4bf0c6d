"""Approval: in a workspace that requires it, a campaign publishes only the content an owner or admin approved.

What was approved is kept as a fingerprint of the content (texts, format, images in order with
their alt text, targets), so a change by any path (the form, the API, the admin, an image
generated or moved) needs a new approval without every one of those paths having to remember it.
A run checks the fingerprint when it starts; a run of content nobody approved is cancelled with
the reason, and publishes nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from marketing import outbox
from marketing.models import MANAGER_ROLES, Membership, User, Workspace

from .models import Campaign, CampaignImage, CampaignStatus, CampaignTarget, PostFormat

NOT_APPROVED = "Not approved: this workspace publishes a campaign only once an owner or admin has approved it."
CHANGED = "Changed since it was approved: an owner or admin must approve it again before it publishes."
CHANGES_FIELDS = ("changes_requested_note", "changes_requested_at", "changes_requested_by")
MAX_CHANGES_NOTE = 1000


TEXT_FIELDS = ("brief", "caption", "hashtags", "first_comment")
IMAGE_FIELDS = ("token", "file", "alt_text")


def content_fingerprint(campaign: Campaign) -> str:
    """A digest of everything a run publishes: the texts, the images in carousel order and the targets."""
    images = CampaignImage.objects.filter(campaign=campaign).order_by("position", "id").values_list(*IMAGE_FIELDS)
    targets = CampaignTarget.objects.filter(campaign=campaign).order_by("destination", "object_id")
    return _digest(
        {name: getattr(campaign, name) for name in TEXT_FIELDS},
        images=list(images),
        targets=[(target.destination, target.object_id) for target in targets],
        format=campaign.format,
    )


def _digest(texts: dict[str, str], *, images: list[tuple], targets: list[tuple[str, int]], format: str) -> str:
    content = {
        # Only a story's: approvals given before campaigns had a format still hold.
        **({"format": format} if format != PostFormat.POST else {}),
        **texts,  # the brief too: a run without an image generates one from it
        # Alt text only where written, so approvals given before images had any still hold.
        "images": [[str(token), name, *([alt_text] if alt_text else [])] for token, name, alt_text in images],
        "targets": [[destination, object_id] for destination, object_id in targets],
    }
    return hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()


@dataclass(frozen=True)
class ApprovalState:
    required: bool
    approved: bool
    changed: bool  # approved once, changed since
    requested_at: datetime | None

    @property
    def refusal(self) -> str:
        """Why a run would not publish, or "" when it may."""
        if not self.required or self.approved:
            return ""
        return CHANGED if self.changed else NOT_APPROVED


def approval_state(campaign: Campaign) -> ApprovalState:
    workspace = campaign.workspace
    if not workspace.require_approval:
        return ApprovalState(required=False, approved=True, changed=False, requested_at=None)
    approved = bool(campaign.approved_fingerprint) and campaign.approved_fingerprint == content_fingerprint(campaign)
    return ApprovalState(
        required=True,
        approved=approved,
        changed=bool(campaign.approved_fingerprint) and not approved,
        requested_at=None if approved else campaign.approval_requested_at,
    )


# The list's word for each state, with its badge's colour.
BADGES = {
    "approved": ("Approved", "success"),
    "changes_requested": ("Changes requested", "warning"),
    "requested": ("Awaiting approval", "info"),
    "changed": ("Changed since approval", "warning"),
    "not_approved": ("Not approved", "muted"),
}


def approval_badges(*, workspace: Workspace, campaigns: list[Campaign]) -> dict[int, tuple[str, str]]:
    """Each listed campaign's approval as (label, colour), in three queries for the whole page; {} when not required."""
    if not workspace.require_approval or not campaigns:
        return {}
    campaign_ids = [campaign.pk for campaign in campaigns]
    rows = Campaign.objects.filter(workspace=workspace, pk__in=campaign_ids).values(
        "pk", *TEXT_FIELDS, "format", "approved_fingerprint", "approval_requested_at", "changes_requested_at"
    )
    images: dict[int, list[tuple]] = {}
    for campaign_id, *image in (
        CampaignImage.objects.filter(campaign_id__in=campaign_ids)
        .order_by("campaign_id", "position", "id")
        .values_list("campaign_id", *IMAGE_FIELDS)
    ):
        images.setdefault(campaign_id, []).append(tuple(image))
    targets: dict[int, list[tuple[str, int]]] = {}
    for campaign_id, destination, object_id in (
        CampaignTarget.objects.filter(campaign_id__in=campaign_ids)
        .order_by("campaign_id", "destination", "object_id")
        .values_list("campaign_id", "destination", "object_id")
    ):
        targets.setdefault(campaign_id, []).append((destination, object_id))
    badges = {}
    for row in rows:
        approved = row["approved_fingerprint"]
        if approved and approved == _digest(
            {name: row[name] for name in TEXT_FIELDS},
            images=images.get(row["pk"], []),
            targets=targets.get(row["pk"], []),
            format=row["format"],
        ):
            state = "approved"
        elif row["changes_requested_at"]:
            state = "changes_requested"
        elif row["approval_requested_at"]:
            state = "requested"
        else:
            state = "changed" if approved else "not_approved"
        badges[row["pk"]] = BADGES[state]
    return badges


def approval_refusal(campaign: Campaign) -> str:
    """Why the campaign may not publish now for want of approval; "" when it may (or none is required)."""
    return approval_state(campaign).refusal


def _require_approver(by: Membership | None, campaign: Campaign) -> None:
    if not isinstance(by, Membership) or by.workspace_id != campaign.workspace_id or by.role not in MANAGER_ROLES:
        raise PermissionDenied("Only owners and admins can approve campaigns.")


@transaction.atomic
def campaign_approve(*, campaign: Campaign, by: Membership) -> Campaign:
    """Approves the campaign's content as it is now."""
    _require_approver(by, campaign)
    if campaign.status == CampaignStatus.ARCHIVED:
        raise ValidationError("Archived campaigns cannot be approved. Restore it to a draft first.")
    # The row is locked while its texts are read, so an edit of them cannot slip in before the approval is saved.
    texts = Campaign.objects.select_for_update().values("brief", "caption", "hashtags", "first_comment").get(pk=campaign.pk)
    for name, value in texts.items():
        setattr(campaign, name, value)
    campaign.approved_fingerprint = content_fingerprint(campaign)
    campaign.approved_at = timezone.now()
    campaign.approved_by = by.user
    campaign.approval_requested_at = None
    campaign.approval_requested_by = None
    _changes_request_clear(campaign)
    campaign.save(update_fields=[
        "approved_fingerprint", "approved_at", "approved_by", "approval_requested_at", "approval_requested_by",
        *CHANGES_FIELDS,
    ])
    return campaign


def _changes_request_clear(campaign: Campaign) -> None:
    campaign.changes_requested_note, campaign.changes_requested_at, campaign.changes_requested_by = "", None, None


@transaction.atomic
def campaign_changes_request(*, campaign: Campaign, by: Membership, note: str) -> Campaign:
    """Answers a request for approval with what to change; the one who asked is emailed the note."""
    from .tasks import send_changes_requested

    _require_approver(by, campaign)
    note = note.strip()
    if not note:
        raise ValidationError({"note": "Say what should change."})
    if len(note) > MAX_CHANGES_NOTE:
        raise ValidationError({"note": f"Keep it under {MAX_CHANGES_NOTE:,} characters ({len(note):,} now)."})
    if campaign.status == CampaignStatus.ARCHIVED:
        raise ValidationError("Archived campaigns cannot be approved. Restore it to a draft first.")
    asked_by = campaign.approval_requested_by
    campaign.changes_requested_note = note
    campaign.changes_requested_at = timezone.now()
    campaign.changes_requested_by = by.user
    campaign.approval_requested_at = None
    campaign.approval_requested_by = None
    campaign.save(update_fields=[*CHANGES_FIELDS, "approval_requested_at", "approval_requested_by"])
    if asked_by is not None and asked_by != by.user:
        outbox.send_on_commit(send_changes_requested, campaign.pk, asked_by.pk)
    return campaign


@transaction.atomic
def campaign_approval_request(*, campaign: Campaign, by: User | None, notify: bool = True) -> Campaign:
    """Asks the workspace's owners and admins, by email, to approve the campaign as it is now (``by`` None: the
    product asked). ``notify`` False: the caller sends one email for several requests (``approval_requests_notify``)."""
    from .tasks import send_approval_request

    state = approval_state(campaign)
    if not state.required:
        raise ValidationError("This workspace does not require approval: the campaign can publish as it is.")
    if state.approved:
        raise ValidationError("This campaign is already approved as it is.")
    if state.requested_at is not None:
        raise ValidationError("Approval was already asked for: the owners and admins have been emailed.")
    if campaign.status == CampaignStatus.ARCHIVED:
        raise ValidationError("Archived campaigns cannot be approved. Restore it to a draft first.")
    campaign.approval_requested_at = timezone.now()
    campaign.approval_requested_by = by
    _changes_request_clear(campaign)  # asking again answers the last request for changes
    campaign.save(update_fields=["approval_requested_at", "approval_requested_by", *CHANGES_FIELDS])
    if notify:
        outbox.send_on_commit(send_approval_request, campaign.pk)
    return campaign


def approval_requests_notify(campaigns: list[Campaign]) -> None:
    """One email to the approvers for campaigns asked about together (the list's ticked campaigns)."""
    from .tasks import send_approval_request, send_approval_requests

    if len(campaigns) == 1:
        outbox.send_on_commit(send_approval_request, campaigns[0].pk)
    elif campaigns:
        outbox.send_on_commit(send_approval_requests, [campaign.pk for campaign in campaigns])


def waiting_for_approval(*, workspace: Workspace, limit: int = 10) -> list[Campaign]:
    """Campaigns someone asked to approve and nobody has answered yet, oldest request first."""
    if not workspace.require_approval:
        return []
    waiting: QuerySet[Campaign] = (
        Campaign.objects.filter(workspace=workspace, approval_requested_at__isnull=False)
        .exclude(status=CampaignStatus.ARCHIVED)
        .select_related("approval_requested_by")
        .order_by("approval_requested_at", "id")
    )
    return list(waiting[:limit])


def approver_emails(*, workspace: Workspace, besides: User | None = None) -> list[str]:
    members = Membership.objects.filter(workspace=workspace, role__in=MANAGER_ROLES, user__is_active=True)
    if besides is not None:
        members = members.exclude(user=besides)
    return list(members.order_by("user__email").values_list("user__email", flat=True))
