import logging
import re
import time
import uuid

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from .logging import request_id_var, user_id_var, workspace_id_var
from .selectors import workspace_for_request

logger = logging.getLogger("marketing.request")

_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


class RequestIdMiddleware:
    """Takes the request id from X-Request-ID (when it is sane) or makes one, and echoes it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        incoming = request.headers.get("X-Request-ID", "")
        request.id = incoming if _SAFE_REQUEST_ID.match(incoming) else uuid.uuid4().hex
        tokens = [request_id_var.set(request.id), user_id_var.set(None), workspace_id_var.set(None)]
        try:
            response = self.get_response(request)
        finally:
            for var, token in zip((request_id_var, user_id_var, workspace_id_var), tokens):
                var.reset(token)
        response["X-Request-ID"] = request.id
        return response


class WorkspaceMiddleware:
    """Sets ``request.workspace`` (and the membership) for signed-in users."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        request.workspace = None
        request.membership = None
        request.memberships = []
        if request.user.is_authenticated:
            user_id_var.set(request.user.pk)
            # Pages show times in the viewer's own zone.
            timezone.activate(request.user.timezone)
            membership, request.memberships = workspace_for_request(request)
            if membership is not None:
                request.membership = membership
                request.workspace = membership.workspace
                workspace_id_var.set(membership.workspace_id)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()


class RequestLogMiddleware:
    """One JSON line per request, with its duration, after the view has run."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        logger.info(
            "request",
            extra={
                "method": request.method,
                "path": request.path,
                "status": response.status_code,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
        return response
