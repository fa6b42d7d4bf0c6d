from allauth.account.adapter import DefaultAccountAdapter
from django.core.exceptions import ValidationError

from .services import invitation_accept, invitation_from_token, workspace_create, workspace_switch

# Set by the invitation page for a visitor without an account; sign-up then joins that workspace.
SESSION_INVITATION_KEY = "invitation_token"


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit=True):
        invitation = self._invitation(request, email=form.cleaned_data.get("email", ""))
        # The browser's zone (sent by the sign-up form), else the inviting workspace's.
        zone = form.cleaned_data.get("timezone") or (invitation.workspace.timezone if invitation else "")
        if zone:
            user.timezone = zone
        user = super().save_user(request, user, form, commit=commit)
        if not commit:
            return user
        if invitation is not None:
            # Signing up from an invitation joins its workspace instead of starting an empty one.
            try:
                membership = invitation_accept(invitation=invitation, user=user)
            except ValidationError:
                invitation = None
            else:
                workspace_switch(request=request, workspace=membership.workspace)
                request.session.pop(SESSION_INVITATION_KEY, None)
        if invitation is None:
            # Every new account starts with a workspace of its own, in its own zone, so the app is usable at once.
            local_part = user.email.split("@")[0]
            workspace_create(name=f"{local_part}'s workspace", owner=user, timezone_name=user.timezone)
        return user

    def _invitation(self, request, *, email: str):
        token = request.session.get(SESSION_INVITATION_KEY) if request is not None else None
        invitation = invitation_from_token(token) if token else None
        if invitation is None or not invitation.is_pending or invitation.email.lower() != email.lower():
            return None
        return invitation
