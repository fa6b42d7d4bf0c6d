from typing import TypeVar

from allauth.mfa.models import Authenticator
from allauth.mfa.utils import is_mfa_enabled
from django.db import models
from django.db.models import Exists, OuterRef, QuerySet
from django.http import Http404, HttpRequest

from .models import ApiToken, Feedback, Invitation, Membership, User, Workspace

SESSION_WORKSPACE_KEY = "workspace_id"

M = TypeVar("M", bound=models.Model)


def memberships_for_user(*, user: User) -> QuerySet[Membership]:
    """The user's memberships with their workspaces, and whether a destination of the workspace
    needs reconnecting (the banner), in one query."""
    from campaigns import destinations

    return (
        Membership.objects.filter(user=user)
        .select_related("workspace")
        .annotate(needs_reconnect=destinations.needs_reconnect(OuterRef("workspace")))
        .order_by("workspace__name")
    )


def workspace_for_request(request: HttpRequest) -> tuple[Membership | None, list[Membership]]:
    """The membership of the session's workspace (else the user's first one), and all of them.

    One query serves the request's workspace, the switcher and the banners.
    """
    memberships = list(memberships_for_user(user=request.user))
    wanted = request.session.get(SESSION_WORKSPACE_KEY)
    membership = next((m for m in memberships if m.workspace_id == wanted), None)
    if membership is None and memberships:
        membership = memberships[0]
        request.session[SESSION_WORKSPACE_KEY] = membership.workspace_id
    return membership, memberships


def get_for_workspace_or_404(queryset: type[M] | QuerySet[M], *, workspace: Workspace | None, **lookup) -> M:
    """Loads one object of ``workspace`` or raises 404, also when it exists in another workspace.

    The one way views load a tenant object: a 404, never a 403, so nobody learns that another
    workspace's object exists.
    """
    if workspace is None:
        raise Http404("No workspace.")
    if isinstance(queryset, type):
        queryset = queryset._default_manager.all()
    try:
        return queryset.get(workspace=workspace, **lookup)
    except (queryset.model.DoesNotExist, ValueError, TypeError):
        raise Http404(f"No {queryset.model._meta.verbose_name} matches the given query.")


def member_list(*, workspace: Workspace, with_two_factor: bool = False) -> QuerySet[Membership]:
    """The workspace's members; ``with_two_factor`` adds ``has_two_factor`` to each, in the same query."""
    members = Membership.objects.filter(workspace=workspace).select_related("user").order_by("user__email")
    if with_two_factor:
        members = members.annotate(has_two_factor=Exists(_totp_authenticators().filter(user=OuterRef("user"))))
    return members


def _totp_authenticators() -> QuerySet[Authenticator]:
    # An authenticator app is what two-factor authentication means here: recovery codes exist only
    # alongside one (allauth deletes them with it).
    return Authenticator.objects.filter(type=Authenticator.Type.TOTP)


def user_has_two_factor(*, user: User) -> bool:
    """Whether ``user`` has an authenticator app turned on, as allauth's own pages tell (one query)."""
    return is_mfa_enabled(user, types=[Authenticator.Type.TOTP])


def invitation_list_pending(*, workspace: Workspace) -> QuerySet[Invitation]:
    return (
        Invitation.objects.filter(workspace=workspace, accepted_at__isnull=True)
        .select_related("invited_by")
        .order_by("-created_at")
    )


def pending_invitations_for_user(*, user: User) -> QuerySet[Invitation]:
    """Open invitations addressed to the user's email, for workspaces they are not in yet."""
    from django.utils import timezone

    return (
        Invitation.objects.filter(email__iexact=user.email, accepted_at__isnull=True, expires_at__gt=timezone.now())
        .exclude(workspace__memberships__user=user)
        .select_related("workspace", "invited_by")
    )


def api_token_list(*, workspace: Workspace, membership: Membership) -> QuerySet[ApiToken]:
    """Owners and admins see every token of the workspace; members see their own."""
    tokens = ApiToken.objects.filter(workspace=workspace).select_related("user")
    if not membership.can_manage_members:
        tokens = tokens.filter(user=membership.user)
    return tokens


def feedback_sent(*, workspace: Workspace, user: User, limit: int = 20) -> list[Feedback]:
    """What ``user`` sent from ``workspace``, newest first, with its status and reply."""
    return list(Feedback.objects.filter(workspace=workspace, author=user).order_by("-created_at", "-id")[:limit])
