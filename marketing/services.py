"""Writes on workspaces, memberships and invitations. Views, the admin and tasks call these."""

import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core import signing
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.crypto import get_random_string
from django.utils.text import slugify

from billing.plans import Limit
from billing.services import limit_check

from . import outbox
from .models import MANAGER_ROLES, ApiToken, Feedback, FeedbackStatus, Invitation, Membership, Role, User, Workspace
from .selectors import SESSION_WORKSPACE_KEY, user_has_two_factor

logger = logging.getLogger(__name__)

INVITATION_SALT = "marketing.invitation"


def _unique_slug(name: str) -> str:
    base = slugify(name)[:100] or "workspace"
    slug = base
    while Workspace.objects.filter(slug=slug).exists():
        slug = f"{base}-{get_random_string(6, 'abcdefghijklmnopqrstuvwxyz0123456789')}"
    return slug


@transaction.atomic
def workspace_create(*, name: str, owner: User, timezone_name: str = "UTC") -> Workspace:
    """Creates a workspace with ``owner`` as its first owner."""
    workspace = Workspace(name=name.strip(), slug=_unique_slug(name), timezone=timezone_name)
    workspace.full_clean()
    workspace.save()
    Membership.objects.create(user=owner, workspace=workspace, role=Role.OWNER)
    return workspace


@transaction.atomic
def workspace_update(
    *,
    workspace: Workspace,
    by: Membership,
    name: str,
    timezone_name: str,
    require_approval: bool | None = None,
    require_two_factor: bool | None = None,
) -> Workspace:
    """Saves an owner's or admin's workspace settings.

    Requiring two-factor authentication is refused to someone who has none: the next page they
    opened, these settings included, would send them to set it up."""
    _require_manager(by)
    if require_two_factor and not workspace.require_two_factor and not user_has_two_factor(user=by.user):
        raise ValidationError({"require_two_factor": "Turn on two-factor authentication for your own account first."})
    workspace.name = name.strip()
    workspace.timezone = timezone_name
    if require_approval is not None:
        workspace.require_approval = require_approval
    if require_two_factor is not None:
        workspace.require_two_factor = require_two_factor
    workspace.full_clean()
    workspace.save(update_fields=["name", "timezone", "require_approval", "require_two_factor"])
    return workspace


@dataclass
class WorkspaceSummary:
    """What deleting a workspace takes with it, shown before and after."""

    name: str
    members: int
    campaigns: int
    images: int
    runs: int
    runs_in_progress: int
    triggers: int
    instagram_accounts: int
    n8n_workflows: int


def workspace_summary(*, workspace: Workspace) -> WorkspaceSummary:
    from campaigns.models import CampaignExecution, CampaignImage, ExecutionStatus

    executions = CampaignExecution.objects.filter(workspace=workspace)
    return WorkspaceSummary(
        name=workspace.name,
        members=workspace.memberships.count(),
        campaigns=workspace.campaigns.count(),
        images=CampaignImage.objects.filter(campaign__workspace=workspace).count(),
        runs=executions.count(),
        runs_in_progress=executions.filter(status__in=[ExecutionStatus.QUEUED, ExecutionStatus.RUNNING]).count(),
        triggers=workspace.triggers.count(),
        instagram_accounts=workspace.instagram_accounts.count(),
        n8n_workflows=workspace.n8n_workflows.count(),
    )


@transaction.atomic
def workspace_delete(*, workspace: Workspace, by: Membership, confirm_name: str) -> WorkspaceSummary:
    """Deletes a workspace and everything in it. Only an owner can, by typing its name.

    Runs in progress are cancelled first, so a worker holding one stops at its next step; the
    image files are removed from storage once the deletion is committed.
    """
    from campaigns.models import CampaignExecution, CampaignImage, ExecutionStatus
    from campaigns.executions import execution_cancel

    if by.workspace_id != workspace.pk or by.role != Role.OWNER:
        raise PermissionDenied("Only an owner can delete a workspace.")
    if confirm_name.strip() != workspace.name.strip():
        raise ValidationError({"confirm_name": "Type the workspace's name exactly as shown to confirm."})
    workspace = Workspace.objects.select_for_update().get(pk=workspace.pk)
    summary = workspace_summary(workspace=workspace)
    _subscription_cancel(workspace)
    unfinished = CampaignExecution.objects.filter(
        workspace=workspace, status__in=[ExecutionStatus.QUEUED, ExecutionStatus.RUNNING]
    ).select_related("campaign")
    for execution in unfinished:
        execution_cancel(execution=execution, by=by.user)
    storage = CampaignImage._meta.get_field("file").storage
    images = CampaignImage.objects.filter(campaign__workspace=workspace).only("file", "thumbnail")
    paths = [path for image in images for path in image.stored_paths]
    workspace_id = workspace.pk
    workspace.delete()
    transaction.on_commit(lambda: [storage.delete(path) for path in paths if path])
    logger.info("workspace deleted", extra={"workspace_id": workspace_id, "by": by.user_id, "campaigns": summary.campaigns})
    return summary


def _subscription_cancel(workspace: Workspace) -> None:
    # Stripe would go on charging a deleted workspace: its subscription ends first, or nothing goes.
    from billing.services import subscription_cancel_for_workspace
    from integrations.http import ProviderError

    try:
        subscription_cancel_for_workspace(workspace=workspace)
    except ProviderError:
        raise ValidationError(
            "Stripe could not be reached to cancel the subscription, so nothing was deleted. Try again in a minute."
        ) from None


def workspace_switch(*, request: HttpRequest, workspace: Workspace) -> None:
    """Makes ``workspace`` the session's current one; the caller has checked membership."""
    request.session[SESSION_WORKSPACE_KEY] = workspace.pk


# Who changes a team: a member of the workspace, or a staff user in the admin. Staff may do what an
# owner may; the rules about the team itself (one owner at least) hold for both.
Actor = Membership | User


def _is_staff(by: Actor | None) -> bool:
    return isinstance(by, User) and by.is_staff


def _require_manager(by: Actor | None) -> None:
    if _is_staff(by):
        return
    if not isinstance(by, Membership) or by.role not in MANAGER_ROLES:
        raise PermissionDenied("Only owners and admins can manage members.")


def _require_can_grant(by: Actor, role: str) -> None:
    # Admins run the team but cannot hand out or take away ownership.
    if role == Role.OWNER and not _is_staff(by) and by.role != Role.OWNER:
        raise PermissionDenied("Only an owner can make someone an owner.")


def invitation_token(invitation: Invitation) -> str:
    return signing.dumps(str(invitation.uuid), salt=INVITATION_SALT, compress=True)


def invitation_from_token(token: str) -> Invitation | None:
    """The invitation a link points to, or None when the link is forged, stale or used up."""
    max_age = timedelta(days=settings.INVITATION_MAX_AGE_DAYS)
    try:
        invitation_uuid = signing.loads(token, salt=INVITATION_SALT, max_age=max_age)
    except signing.BadSignature:
        return None
    return Invitation.objects.select_related("workspace", "invited_by").filter(uuid=invitation_uuid).first()


@transaction.atomic
def invitation_create(*, workspace: Workspace, by: Membership, email: str, role: str) -> Invitation:
    """Invites ``email`` to ``workspace`` and emails the link once the transaction commits."""
    _require_manager(by)
    _require_can_grant(by, role)
    email = User.objects.normalize_email(email).strip()
    limit_check(workspace=workspace, limit=Limit.MEMBERS)
    if Membership.objects.filter(workspace=workspace, user__email__iexact=email).exists():
        raise ValidationError({"email": f"{email} is already a member of this workspace."})
    if Invitation.objects.filter(workspace=workspace, email__iexact=email, accepted_at__isnull=True).exists():
        raise ValidationError({"email": f"{email} already has a pending invitation. Resend it instead."})
    invitation = Invitation(
        workspace=workspace,
        email=email,
        role=role,
        invited_by=by.user,
        expires_at=timezone.now() + timedelta(days=settings.INVITATION_MAX_AGE_DAYS),
    )
    invitation.full_clean()
    try:
        with transaction.atomic():
            invitation.save()
    except IntegrityError:
        raise ValidationError({"email": f"{email} already has a pending invitation. Resend it instead."})
    _queue_invitation_email(invitation)
    return invitation


@transaction.atomic
def invitation_resend(*, invitation: Invitation, by: Membership) -> Invitation:
    """Sends the invitation again with a fresh expiry."""
    _require_manager(by)
    if invitation.accepted_at is not None:
        raise ValidationError("This invitation has already been accepted.")
    invitation.expires_at = timezone.now() + timedelta(days=settings.INVITATION_MAX_AGE_DAYS)
    invitation.save(update_fields=["expires_at"])
    _queue_invitation_email(invitation)
    return invitation


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, by: Membership) -> None:
    _require_manager(by)
    if invitation.accepted_at is not None:
        raise ValidationError("This invitation has already been accepted.")
    invitation.delete()


def _queue_invitation_email(invitation: Invitation) -> None:
    from .tasks import send_invitation_email

    outbox.send_on_commit(send_invitation_email, invitation.pk)


@transaction.atomic
def invitation_accept(*, invitation: Invitation, user: User) -> Membership:
    """Adds ``user`` to the invitation's workspace with the invited role.

    The link must be used by the account it was sent to, so a forwarded email does not let
    somebody else in.
    """
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.accepted_at is not None:
        raise ValidationError("This invitation has already been used.")
    if invitation.is_expired:
        raise ValidationError("This invitation has expired. Ask for a new one.")
    if invitation.email.lower() != user.email.lower():
        raise ValidationError(
            f"This invitation was sent to {invitation.email}, but you are signed in as {user.email}."
        )
    membership, created = Membership.objects.get_or_create(
        user=user, workspace=invitation.workspace, defaults={"role": invitation.role}
    )
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by"])
    return membership


@transaction.atomic
def membership_add(*, workspace: Workspace, user: User, role: str, by: Actor) -> Membership:
    """Adds ``user`` to ``workspace`` directly, without an invitation (staff in the admin)."""
    _require_manager(by)
    _require_can_grant(by, role)
    membership = Membership(workspace=workspace, user=user, role=role)
    membership.full_clean()
    membership.save()
    return membership


@transaction.atomic
def membership_change_role(*, membership: Membership, by: Actor, role: str) -> Membership:
    """Changes a member's role; the last owner cannot be demoted."""
    _require_manager(by)
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if role not in Role.values:
        raise ValidationError({"role": f"{role!r} is not a role."})
    if Role.OWNER in (membership.role, role):
        _require_can_grant(by, Role.OWNER)
    if membership.role == Role.OWNER and role != Role.OWNER and _owners_locked(membership.workspace_id) <= 1:
        raise ValidationError("A workspace needs at least one owner. Make someone else an owner first.")
    membership.role = role
    membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership, by: Actor) -> None:
    """Removes a member, or lets a member leave (``by`` is the same membership)."""
    leaving = isinstance(by, Membership) and membership.pk == by.pk
    if not leaving:
        _require_manager(by)
        if membership.role == Role.OWNER:
            _require_can_grant(by, Role.OWNER)
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if membership.role == Role.OWNER and _owners_locked(membership.workspace_id) <= 1:
        raise ValidationError(
            "The last owner cannot leave. Make someone else an owner first, or delete the workspace."
        )
    membership.delete()


@transaction.atomic
def user_delete(*, user: User) -> None:
    """Deletes an account and its memberships, unless it is the last owner of a workspace."""
    owned = Membership.objects.select_for_update().filter(user=user, role=Role.OWNER).select_related("workspace")
    for membership in owned:
        if _owners_locked(membership.workspace_id) <= 1:
            raise ValidationError(
                f"{user.email} is the last owner of {membership.workspace.name}. "
                "Make someone else an owner first, or delete the workspace."
            )
    user.delete()


def _owners_locked(workspace_id: int) -> int:
    # Locking the owner rows serialises two owners demoting each other at once.
    return len(list(Membership.objects.select_for_update().filter(workspace_id=workspace_id, role=Role.OWNER)))



TOKEN_PREFIX = "mkt_"


def _token_hash(raw: str) -> str:
    # Tokens carry 256 bits of randomness, so a fast hash is enough; no salt or stretching needed.
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def api_token_create(*, workspace: Workspace, user: User, name: str) -> tuple[ApiToken, str]:
    """Creates a token for ``user`` in ``workspace``; the raw token is returned once, never stored."""
    if not Membership.objects.filter(workspace=workspace, user=user).exists():
        raise PermissionDenied("Only members can create tokens for a workspace.")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(workspace=workspace, user=user, name=name.strip() or "API token", prefix=raw[:12], key_hash=_token_hash(raw))
    token.full_clean()
    token.save()
    return token, raw


@transaction.atomic
def api_token_revoke(*, token: ApiToken, by: Membership) -> None:
    if token.user_id != by.user_id:
        _require_manager(by)
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])


def api_token_authenticate(raw: str) -> ApiToken | None:
    """The active token for ``raw`` whose user still belongs to its workspace, or None."""
    if not raw.startswith(TOKEN_PREFIX) or len(raw) > 100:
        return None
    token = (
        ApiToken.objects.select_related("user", "workspace")
        .filter(key_hash=_token_hash(raw), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if token is None or not Membership.objects.filter(workspace=token.workspace, user=token.user).exists():
        return None
    now = timezone.now()
    # One write a minute at most: the timestamp is for people, not for audit.
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


# A person sends a handful in an hour at most; more is a script or a stuck button.
FEEDBACK_PER_HOUR = 10


@transaction.atomic
def feedback_submit(
    *, workspace: Workspace, user: User, kind: str, message: str, page: str = "", user_agent: str = ""
) -> Feedback:
    """Stores what ``user`` tells the team and emails staff once the transaction commits."""
    since = timezone.now() - timedelta(hours=1)
    if Feedback.objects.filter(author=user, created_at__gte=since).count() >= FEEDBACK_PER_HOUR:
        raise ValidationError(
            f"You have sent {FEEDBACK_PER_HOUR} messages in the last hour. Please wait a little before sending more."
        )
    feedback = Feedback(
        workspace=workspace,
        author=user,
        kind=kind,
        message=message.strip(),
        page=page[:500],
        user_agent=user_agent[:300],
    )
    feedback.full_clean()
    feedback.save()
    from .tasks import send_feedback_to_staff

    outbox.send_on_commit(send_feedback_to_staff, feedback.pk)
    return feedback


@transaction.atomic
def feedback_respond(*, feedback: Feedback, status: str, reply: str, by: User) -> Feedback:
    """Staff set the status and the reply; a new or changed reply is emailed to the sender.

    Opening a new message to answer it marks it read."""
    reply = reply.strip()
    changed_reply = reply != feedback.reply
    if status == FeedbackStatus.NEW and reply:
        status = FeedbackStatus.READ
    feedback.status = status
    feedback.reply = reply
    if changed_reply and reply:
        feedback.replied_at = timezone.now()
        feedback.replied_by = by
    feedback.full_clean()
    feedback.save()
    if changed_reply and reply and feedback.author_id:
        from .tasks import send_feedback_reply

        outbox.send_on_commit(send_feedback_reply, feedback.pk)
    return feedback
