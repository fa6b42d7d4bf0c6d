"""The project's URLs plus views that fail, for the error-tracking tests."""

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


class BoomError(Exception):
    pass


@login_not_required
@csrf_exempt
def boom(request: HttpRequest) -> HttpResponse:
    access_token = "EAAB-planted-access-token-123"  # noqa: F841 - a local the sample must not show
    raise BoomError(f"could not call https://graph.example/me?access_token={access_token}")


urlpatterns = [
    path("__test/boom/", boom, name="test_boom"),
    path("hooks/__test/boom/", boom, name="test_hook_boom"),
    path("", include("marketing.urls")),
]
