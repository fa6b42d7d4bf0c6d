"""Helpers shared by the views of every app: the workspace gate and showing a service's refusal."""

from collections.abc import Callable
from functools import wraps

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django_htmx.http import HttpResponseClientRedirect

from .models import Workspace
from .selectors import user_has_two_factor

# The user's ``two_factor_version`` when two-factor authentication was last found on in this
# session: a workspace that requires it then costs no query until an authenticator changes.
SESSION_TWO_FACTOR_KEY = "two_factor_version_checked"


def workspace_required(view: Callable[..., HttpResponse] | None = None, *, two_factor: bool = True):
    """Sends a signed-in user without any workspace to create one first, and one without
    two-factor authentication to set it up when the workspace requires it.

    Every page of a workspace goes through here, and the pages that must stay open to such a user
    do not (allauth's, account settings, the workspace switcher, workspace creation, invitations);
    ``two_factor=False`` keeps the workspace's page open to them (leaving it). The API checks the
    browser's session in marketing.api_auth, and leaves tokens alone."""
    if view is None:
        return lambda view: workspace_required(view, two_factor=two_factor)

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.workspace is None:
            messages.info(request, "Create a workspace to get started.")
            return redirect("workspace_create")
        if two_factor and two_factor_missing(request):
            messages.warning(request, two_factor_required_message(request.workspace))
            url = reverse("mfa_activate_totp")
            # An htmx request would follow a redirect and swap the setup page into a fragment.
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
        return view(request, *args, **kwargs)

    return wrapper


def two_factor_missing(request: HttpRequest) -> bool:
    """Whether the request's workspace requires two-factor authentication and the signed-in user
    has none. Only an attribute check where the workspace does not require it."""
    workspace = request.workspace
    if workspace is None or not workspace.require_two_factor:
        return False
    version = request.user.two_factor_version
    if request.session.get(SESSION_TWO_FACTOR_KEY) == version:
        return False
    if not user_has_two_factor(user=request.user):
        request.session.pop(SESSION_TWO_FACTOR_KEY, None)
        return True
    request.session[SESSION_TWO_FACTOR_KEY] = version
    return False


def two_factor_required_message(workspace: Workspace) -> str:
    return f"{workspace.name} requires two-factor authentication: set it up to continue."


def error_text(error: ValidationError) -> str:
    """A service's ValidationError as one line for a message or a form's top error."""
    return " ".join(error.messages)


def form_error_text(form: forms.BaseForm) -> str:
    """A refused form's messages as one line, for a form posted from a button or a small box."""
    return " ".join(message for errors in form.errors.values() for message in errors)


def add_service_errors(form: forms.BaseForm, error: ValidationError) -> None:
    """Puts a service's ValidationError on the form: by field where the form has that field,
    at the top of the form otherwise."""
    if not hasattr(error, "error_dict"):
        form.add_error(None, error.messages)
        return
    for field, field_errors in error.message_dict.items():
        form.add_error(field if field in form.fields else None, field_errors)
