"""The project's URLs plus a bare JSON endpoint, for the server of ``bench.triggers_ingest``."""

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.views.decorators.csrf import csrf_exempt

from marketing.urls import urlpatterns as project_urlpatterns

BARE_EVENT_PATH = "/__bench/bare-event/"


@login_not_required
@csrf_exempt
def bare_event(request: HttpRequest) -> JsonResponse:
    """What any JSON endpoint costs: every middleware, the body read, a JSON answer, and nothing else."""
    request.body  # noqa: B018 - read like the event view reads it
    return JsonResponse({"ok": True}, status=202)


# The project's patterns at the top level, as its own URLconf has them, not under an include():
# the event URL then resolves as it does in production (bench/README.md, ingest, "Fifteenth session").
urlpatterns = [
    path(BARE_EVENT_PATH.lstrip("/"), bare_event, name="bench_bare_event"),
    *project_urlpatterns,
]
