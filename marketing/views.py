from allauth.account.adapter import get_adapter
from allauth.account.views import SignupView
from allauth.mfa.utils import is_mfa_enabled
from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from . import mailbox, services
from .adapters import SESSION_INVITATION_KEY
from .forms import (
    AccountSettingsForm,
    ApiTokenForm,
    FeedbackForm,
    InvitationForm,
    RoleForm,
    SwitchWorkspaceForm,
    WorkspaceDeleteForm,
    WorkspaceForm,
)
from .models import ApiToken, Invitation, Membership, Role
from .selectors import (
    api_token_list,
    feedback_sent,
    get_for_workspace_or_404,
    invitation_list_pending,
    member_list,
    memberships_for_user,
)
from .web import add_service_errors, error_text, workspace_required


def _members_context(request: HttpRequest, invite_form: InvitationForm | None = None) -> dict:
    can_manage = request.membership.can_manage_members
    # Owners and admins see who has two-factor authentication on, to chase the others.
    members = member_list(workspace=request.workspace, with_two_factor=can_manage)
    return {
        "members": members,
        # The last owner cannot leave; deleting the workspace is what is left to offer.
        "is_only_owner": request.membership.role == Role.OWNER
        and not members.filter(role=Role.OWNER).exclude(pk=request.membership.pk).exists(),
        "invitations": invitation_list_pending(workspace=request.workspace),
        "invite_form": invite_form or InvitationForm(),
        "can_manage": can_manage,
        "role_form": RoleForm(),
    }


def _members_response(request: HttpRequest, invite_form: InvitationForm | None = None) -> HttpResponse:
    template = "marketing/members.html#members-panel" if request.htmx else "marketing/members.html"
    return render(request, template, _members_context(request, invite_form))


@workspace_required
@require_GET
def members(request: HttpRequest) -> HttpResponse:
    return _members_response(request)


@workspace_required
@require_POST
def invitation_create(request: HttpRequest) -> HttpResponse:
    form = InvitationForm(request.POST)
    if form.is_valid():
        try:
            invitation = services.invitation_create(
                workspace=request.workspace, by=request.membership, **form.cleaned_data
            )
        except ValidationError as error:
            form.add_error("email", error_text(error))
        else:
            messages.success(request, f"Invitation sent to {invitation.email}.")
            if request.htmx:
                return _members_response(request)
            return redirect("member_list")
    return _members_response(request, invite_form=form)


def _run_member_action(request: HttpRequest, action, success: str) -> HttpResponse:
    try:
        action()
    except ValidationError as error:
        messages.error(request, error_text(error))
    else:
        messages.success(request, success)
    if request.htmx:
        return _members_response(request)
    return redirect("member_list")


@workspace_required
@require_POST
def membership_role(request: HttpRequest, membership_id: int) -> HttpResponse:
    membership = get_for_workspace_or_404(Membership.objects.select_related("user"), workspace=request.workspace, pk=membership_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a role.")
        return redirect("member_list")
    role = form.cleaned_data["role"]
    return _run_member_action(
        request,
        lambda: services.membership_change_role(membership=membership, by=request.membership, role=role),
        f"{membership.user.email} is now {role}.",
    )


@workspace_required
@require_POST
def membership_remove(request: HttpRequest, membership_id: int) -> HttpResponse:
    membership = get_for_workspace_or_404(Membership.objects.select_related("user"), workspace=request.workspace, pk=membership_id)
    return _run_member_action(
        request,
        lambda: services.membership_remove(membership=membership, by=request.membership),
        f"{membership.user.email} was removed from {request.workspace.name}.",
    )


@workspace_required(two_factor=False)  # a member may leave rather than set up what the workspace requires
@require_POST
def membership_leave(request: HttpRequest) -> HttpResponse:
    workspace = request.workspace
    try:
        services.membership_remove(membership=request.membership, by=request.membership)
    except ValidationError as error:
        messages.error(request, error_text(error))
        return redirect("member_list")
    messages.success(request, f"You left {workspace.name}.")
    return redirect("dashboard")


@workspace_required
@require_POST
def invitation_resend(request: HttpRequest, invitation_id: int) -> HttpResponse:
    invitation = get_for_workspace_or_404(Invitation, workspace=request.workspace, pk=invitation_id)
    return _run_member_action(
        request,
        lambda: services.invitation_resend(invitation=invitation, by=request.membership),
        f"Invitation sent again to {invitation.email}.",
    )


@workspace_required
@require_POST
def invitation_revoke(request: HttpRequest, invitation_id: int) -> HttpResponse:
    invitation = get_for_workspace_or_404(Invitation, workspace=request.workspace, pk=invitation_id)
    return _run_member_action(
        request,
        lambda: services.invitation_revoke(invitation=invitation, by=request.membership),
        f"Invitation to {invitation.email} revoked.",
    )


@login_not_required
def invitation_accept(request: HttpRequest, token: str) -> HttpResponse:
    """Shows an invitation; a signed-in user accepts it with a POST."""
    invitation = services.invitation_from_token(token)
    if invitation is None:
        return render(request, "marketing/invitation_invalid.html", status=404)
    if request.user.is_authenticated and invitation.accepted_by_id == request.user.pk:
        # Signing up from this link already joined the workspace (AccountAdapter).
        services.workspace_switch(request=request, workspace=invitation.workspace)
        messages.success(request, f"Welcome to {invitation.workspace.name}.")
        return redirect("dashboard")
    if not request.user.is_authenticated and invitation.is_pending:
        # The link arrived by email, so its address is proven: sign-up pre-fills and locks it and
        # skips the verification email, and the new account joins this workspace.
        request.session[SESSION_INVITATION_KEY] = token
        get_adapter(request).stash_verified_email(request, invitation.email)
    if request.method == "POST" and request.user.is_authenticated:
        try:
            membership = services.invitation_accept(invitation=invitation, user=request.user)
        except ValidationError as error:
            messages.error(request, error_text(error))
        else:
            services.workspace_switch(request=request, workspace=membership.workspace)
            messages.success(request, f"Welcome to {membership.workspace.name}.")
            return redirect("dashboard")
    next_query = f"?next={reverse('invitation_accept', args=[token])}"
    context = {
        "invitation": invitation,
        "login_url": reverse("account_login") + next_query,
        "signup_url": reverse("account_signup") + next_query,
    }
    return render(request, "marketing/invitation_accept.html", context)


def workspace_create(request: HttpRequest) -> HttpResponse:
    form = WorkspaceForm(request.POST or None, initial={"timezone": request.user.timezone})
    if request.method == "POST" and form.is_valid():
        workspace = services.workspace_create(
            name=form.cleaned_data["name"], owner=request.user, timezone_name=form.cleaned_data["timezone"]
        )
        services.workspace_switch(request=request, workspace=workspace)
        messages.success(request, f"{workspace.name} is ready.")
        return redirect("dashboard")
    return render(request, "marketing/workspace_create.html", {"form": form})


@require_POST
def workspace_switch(request: HttpRequest) -> HttpResponse:
    form = SwitchWorkspaceForm(request.POST)
    if not form.is_valid():
        return redirect("dashboard")
    membership = get_for_workspace_or_404(
        memberships_for_user(user=request.user), workspace=form.cleaned_data["workspace"]
    )
    services.workspace_switch(request=request, workspace=membership.workspace)
    return redirect("dashboard")


@workspace_required
def workspace_settings(request: HttpRequest) -> HttpResponse:
    form = WorkspaceForm.for_workspace(request.workspace, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.workspace_update(
                workspace=request.workspace,
                by=request.membership,
                name=form.cleaned_data["name"],
                timezone_name=form.cleaned_data["timezone"],
                require_approval=form.cleaned_data["require_approval"],
                require_two_factor=form.cleaned_data["require_two_factor"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Workspace settings saved.")
            return redirect("workspace_settings")
    return render(
        request,
        "marketing/workspace_settings.html",
        {"form": form, "can_manage": request.membership.can_manage_members},
    )


@workspace_required
def workspace_delete(request: HttpRequest) -> HttpResponse:
    """An owner deletes the current workspace after typing its name; the page lists what goes."""
    if request.membership.role != Role.OWNER:
        messages.error(request, "Only an owner can delete the workspace.")
        return redirect("workspace_settings")
    form = WorkspaceDeleteForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            summary = services.workspace_delete(
                workspace=request.workspace, by=request.membership, confirm_name=form.cleaned_data["confirm_name"]
            )
        except ValidationError as error:
            for field, field_errors in error.message_dict.items():
                form.add_error(field if field in form.fields else None, field_errors)
        else:
            messages.success(
                request,
                f"{summary.name} was deleted with its {summary.campaigns} campaign(s), {summary.runs} run(s) "
                f"and {summary.images} image file(s).",
            )
            return redirect("dashboard")
    context = {"form": form, "summary": services.workspace_summary(workspace=request.workspace)}
    return render(request, "marketing/workspace_delete.html", context)


def account_settings(request: HttpRequest) -> HttpResponse:
    form = AccountSettingsForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Account settings saved.")
        return redirect("account_settings")
    context = {"form": form, "mfa_enabled": is_mfa_enabled(request.user)}
    return render(request, "marketing/account_settings.html", context)


@login_not_required
@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: the process answers."""
    return JsonResponse({"status": "ok"})


@login_not_required
@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """Browsers ask for /favicon.ico on pages that name no icon (JSON, the API docs).

    The static URL is looked up per request: with the manifest storage it exists only after
    collectstatic, which module import must not depend on."""
    return redirect(static("favicon.svg"), permanent=True)


@require_GET
def help_page(request: HttpRequest) -> HttpResponse:
    """The marketer's guide: each part of the product in a few lines, with links to its pages."""
    return render(request, "marketing/help.html")


@workspace_required
def feedback(request: HttpRequest) -> HttpResponse:
    """The feedback form, opened from any page (``?from=`` that page), and what the user sent before."""
    page = _same_site_path(request, request.POST.get("page") if request.method == "POST" else request.GET.get("from"))
    form = FeedbackForm(request.POST or None, initial={"page": page})
    if request.method == "POST" and form.is_valid():
        try:
            services.feedback_submit(
                workspace=request.workspace,
                user=request.user,
                kind=form.cleaned_data["kind"],
                message=form.cleaned_data["message"],
                page=page,
                user_agent=request.headers.get("User-Agent", ""),
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, "Thank you. The team reads every message; the answer will show here and come by email.")
            return redirect(page or "feedback")
    context = {"form": form, "sent": feedback_sent(workspace=request.workspace, user=request.user), "back": page}
    return render(request, "marketing/feedback.html", context)


def _same_site_path(request: HttpRequest, url: str | None) -> str:
    """``url`` if it is a path on this site (never another host: it is redirected to), else ''."""
    if not url or not url.startswith("/") or not url_has_allowed_host_and_scheme(url, allowed_hosts={request.get_host()}):
        return ""
    return url[:500]


@workspace_required
def api_tokens(request: HttpRequest) -> HttpResponse:
    """Lists the workspace's tokens; creating one shows its secret once, on this response only."""
    form = ApiTokenForm(request.POST or None)
    created = None
    if request.method == "POST" and form.is_valid():
        token, raw = services.api_token_create(workspace=request.workspace, user=request.user, name=form.cleaned_data["name"])
        created = {"token": token, "raw": raw}
        form = ApiTokenForm()
    context = {
        "form": form,
        "created": created,
        "tokens": api_token_list(workspace=request.workspace, membership=request.membership),
        "can_manage": request.membership.can_manage_members,
    }
    return render(request, "marketing/api_tokens.html", context)


@workspace_required
@require_POST
def api_token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = get_for_workspace_or_404(ApiToken, workspace=request.workspace, pk=token_id)
    services.api_token_revoke(token=token, by=request.membership)
    messages.success(request, f"Token “{token.name}” revoked: calls with it are refused from now on.")
    return redirect("api_tokens")


class InvitedSignupView(SignupView):
    """allauth's sign-up; opened from an invitation link, the invited address is filled in and locked."""

    def get_form(self, form_class=None):
        form = super().get_form(form_class)
        email = self._invited_email()
        if email and "email" in form.fields:
            form.fields["email"].initial = email
            # A disabled field takes its initial value whatever is posted: the address cannot change.
            form.fields["email"].disabled = True
            form.fields["email"].help_text = "The address the invitation was sent to."
        return form

    def _invited_email(self) -> str:
        token = self.request.session.get(SESSION_INVITATION_KEY)
        invitation = services.invitation_from_token(token) if token else None
        return invitation.email if invitation is not None and invitation.is_pending else ""


signup = InvitedSignupView.as_view()


@login_not_required
@never_cache
@require_GET
def dev_mailbox(request: HttpRequest, mail_id: str = "") -> HttpResponse:
    """Development only: the emails the app sent, with their links. A 404 unless DEBUG keeps mail here.

    Open to visitors who are not signed in, since the person verifying a new account is one.
    """
    if not mailbox.is_enabled():
        raise Http404("No development mailbox.")
    mails = mailbox.mail_list()
    selected = mailbox.mail_get(mail_id) if mail_id else (mails[0] if mails else None)
    if mail_id and selected is None:
        raise Http404("No such email.")
    return render(request, "marketing/mailbox.html", {"mails": mails, "selected": selected})
