import time

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from . import recorder


class RequestRollupMiddleware:
    """Counts and times every request per route and method into the dashboard's rollups."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not settings.MONITORING_ENABLED:
            return self.get_response(request)
        started = time.perf_counter()
        response = self.get_response(request)
        match = request.resolver_match
        route = match.view_name if match is not None else "<unmatched>"
        recorder.record_timing(
            "request",
            f"{request.method} {route}",
            ms=(time.perf_counter() - started) * 1000,
            failed=response.status_code >= 500,
        )
        return response
