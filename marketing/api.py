"""The JSON API's shared parts: errors as JSON and the request's workspace."""

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler


def exception_handler(exc, context):
    """Errors from services become 400s with the same messages the pages show."""
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        return Response(detail, status=400)
    if isinstance(exc, Http404):
        return Response({"detail": "Not found."}, status=404)
    return drf_exception_handler(exc, context)


def workspace_of(request):
    return request._request.workspace
