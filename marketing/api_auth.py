"""Who calls the API: a bearer token (scoped to its workspace) or the browser's session.

Kept apart from marketing.api: DRF imports these classes while rest_framework.views loads.
"""

from rest_framework import exceptions, permissions
from rest_framework.authentication import BaseAuthentication, SessionAuthentication

from .models import Membership
from .services import api_token_authenticate
from .web import two_factor_missing, two_factor_required_message


class ApiTokenAuthentication(BaseAuthentication):
    """``Authorization: Bearer mkt_…``: the token's user, inside the token's workspace only."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = request.headers.get("Authorization", "")
        if not header.startswith(f"{self.keyword} "):
            return None
        token = api_token_authenticate(header[len(self.keyword) + 1 :].strip())
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid or revoked API token.")
        django_request = request._request
        django_request.workspace = token.workspace
        django_request.membership = Membership.objects.get(workspace=token.workspace, user=token.user)
        return token.user, token

    def authenticate_header(self, request) -> str:
        return self.keyword


class SessionWorkspaceAuthentication(SessionAuthentication):
    """The browser's session, with the workspace the middleware chose."""


class HasWorkspace(permissions.BasePermission):
    message = "No workspace: create one or use a token that belongs to one."

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated and getattr(request._request, "workspace", None)):
            return False
        # A workspace that requires two-factor authentication refuses the browser's session of a
        # member without it, as its pages do (marketing.web); a token is a credential of its own.
        if isinstance(request.successful_authenticator, SessionWorkspaceAuthentication) and two_factor_missing(request._request):
            self.message = two_factor_required_message(request._request.workspace)
            return False
        return True
