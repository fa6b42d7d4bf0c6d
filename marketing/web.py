"""Helpers shared by the views of every app: the workspace gate and showing a service's refusal."""

from collections.abc import Callable
from functools import wraps

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect


def workspace_required(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Sends a signed-in user without any workspace to create one first."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.workspace is None:
            messages.info(request, "Create a workspace to get started.")
            return redirect("workspace_create")
        return view(request, *args, **kwargs)

    return wrapper


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
