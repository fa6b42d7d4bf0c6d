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
        recorder.record_timing(
            "request",
            f"{request.method} {_route(request)}",
            ms=(time.perf_counter() - started) * 1000,
            failed=response.status_code >= 500,
        )
        return response


def _route(request: HttpRequest) -> str:
    if request.resolver_match is not None:
        return request.resolver_match.view_name
    # WhiteNoise answers for static files below this middleware without resolving a URL: they
    # get a row of their own, so that "<unmatched>" is the requests no URL takes (404s, scans).
    if request.path.startswith(settings.STATIC_URL):
        return "<static>"
    return "<unmatched>"
