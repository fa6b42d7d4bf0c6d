"""The JSON API's shared parts: errors as problem details (RFC 9457), the request's workspace, and idempotency keys."""

import functools
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, permissions, serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from . import idempotency


PROBLEM_CONTENT_TYPE = "application/problem+json"
# The ``type`` of each problem: a page of the API's documentation that explains it.
PROBLEM_BASE = "/api/docs/#problem-"
TITLES = {
    400: "Invalid request",
    401: "Not authenticated",
    402: "Plan limit reached",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    415: "Unsupported media type",
    422: "Unprocessable request",
    429: "Too many requests",
    503: "Service unavailable",
}


def problem(status: int, detail: str, *, code: str = "", errors: dict | None = None, **extensions) -> Response:
    """An error answer in the one shape of the API: RFC 9457 problem details.

    ``type`` names the kind of problem, ``title`` says it in words, ``detail`` says what went wrong
    this time; ``errors`` maps each refused field to its messages; other members are extensions.
    """
    return Response(problem_body(status, detail, code=code, errors=errors, **extensions), status=status, content_type=PROBLEM_CONTENT_TYPE)


def problem_body(status: int, detail: str, *, code: str = "", errors: dict | None = None, **extensions) -> dict:
    """The members of a problem details answer, for views outside DRF (the webhook intake)."""
    code = code or TITLES.get(status, "error").lower().replace(" ", "_")
    body = {"type": PROBLEM_BASE + code, "title": TITLES.get(status, "Error"), "status": status, "detail": detail}
    if errors:
        body["errors"] = errors
    body.update(extensions)
    return body


def _messages(detail) -> list[str]:
    if isinstance(detail, dict):
        return [message for value in detail.values() for message in _messages(value)]
    if isinstance(detail, list):
        return [message for value in detail for message in _messages(value)]
    return [str(detail)]


# Read past the limit, so the answer reaches the client: a server that closes the connection while
# the client is still sending resets it, and the client never sees why. Beyond this, it is reset.
DISCARD_MAX_BYTES = 32 * 1024 * 1024


def _discard_body(request: HttpRequest) -> None:
    stream = getattr(request, "_stream", None)
    if stream is None:
        return
    left = min(int(request.META.get("CONTENT_LENGTH") or 0), DISCARD_MAX_BYTES)
    try:
        while left > 0 and (chunk := stream.read(min(left, 64 * 1024))):
            left -= len(chunk)
    except OSError:
        pass  # the client went away


def exception_handler(exc, context):
    """Every API error as problem details: services' ValidationErrors as 400s with the messages
    the pages show (by field), plan limits as 402s, a manual run in progress as 409."""
    from billing.services import LimitReached

    if isinstance(exc, (RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent)):
        _discard_body(context["request"]._request)
        return problem(
            400,
            f"The request body is larger than this API reads as a form ({settings.DATA_UPLOAD_MAX_MEMORY_SIZE:,} bytes "
            "at most): send JSON instead.",
            code="too_large",
        )
    if isinstance(exc, LimitReached):
        extensions = {key: value for key, value in exc.as_json().items() if key not in ("detail", "code")}
        return problem(402, exc.messages[0], code="plan_limit", **extensions)
    if isinstance(exc, DjangoValidationError):
        if getattr(exc, "code", None) == "run_in_progress":
            running = getattr(exc, "execution", None)
            extensions = {"execution": str(running.uuid)} if running is not None else {}
            return problem(409, " ".join(exc.messages), code="run_in_progress", **extensions)
        if hasattr(exc, "error_dict"):
            errors = {"non_field_errors" if field == "__all__" else field: messages for field, messages in exc.message_dict.items()}
            return problem(400, " ".join(_messages(errors)), code="invalid", errors=errors)
        return problem(400, " ".join(exc.messages), code=getattr(exc, "code", None) or "invalid")
    if isinstance(exc, Http404):
        return problem(404, "Not found.", code="not_found")
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    data = response.data
    code = getattr(exc, "default_code", "") or ""
    if isinstance(exc, exceptions.ValidationError):
        errors = data if isinstance(data, dict) else {"non_field_errors": data}
        return _with_headers(problem(400, " ".join(_messages(errors)), code="invalid", errors=errors), response)
    detail = data.get("detail", "") if isinstance(data, dict) else " ".join(_messages(data))
    return _with_headers(problem(response.status_code, str(detail), code=code), response)


def _with_headers(answer: Response, original: Response) -> Response:
    for header in ("Retry-After", "WWW-Authenticate", "Allow"):
        if header in original:
            answer[header] = original[header]
    return answer


def workspace_of(request):
    return request._request.workspace


IDEMPOTENCY_KEY_PARAMETER = OpenApiParameter(
    name=idempotency.HEADER,
    type=OpenApiTypes.STR,
    location=OpenApiParameter.HEADER,
    required=False,
    description=(
        "Any unique string (a UUID, say), up to 255 characters. A repeat of the request with the same key "
        "within 24 hours does the work once and gets the first answer back, with `Idempotent-Replayed: true`. "
        "The same key with a different request answers 422."
    ),
)


class _Unstored(Exception):
    def __init__(self, response: Response) -> None:
        self.response = response


def idempotent(method: Callable) -> Callable:
    """Makes an APIView's POST honour the ``Idempotency-Key`` header. Answers below 500 are stored;
    an exception rolls back both the work and the key, so the caller may retry."""

    @functools.wraps(method)
    def wrapper(view, request: Request, *args, **kwargs) -> Response:
        raw = request.headers.get(idempotency.HEADER)
        if raw is None:
            return method(view, request, *args, **kwargs)
        try:
            key = idempotency.check_key(raw)
        except idempotency.BadKey as error:
            return problem(400, str(error), code="bad_idempotency_key")
        fingerprint = idempotency.fingerprint(request.method, request.path, request.body)

        first: list[Response] = []

        def work() -> idempotency.Answer:
            response = method(view, request, *args, **kwargs)
            if response.status_code >= 500:
                raise _Unstored(response)
            first.append(response)
            return idempotency.Answer(status=response.status_code, body=response.data)

        try:
            answer = idempotency.once(workspace=workspace_of(request), key=key, fingerprint=fingerprint, work=work)
        except _Unstored as unstored:
            return unstored.response
        except idempotency.KeyReused as error:
            return problem(422, str(error), code="idempotency_key_reused")
        if not answer.replayed:
            return first[0]
        response = Response(answer.body, status=answer.status)
        response["Idempotent-Replayed"] = "true"
        return response

    return wrapper


class ApiRootSerializer(serializers.Serializer):
    campaigns = serializers.URLField()
    executions = serializers.URLField()
    destinations = serializers.URLField()
    schema = serializers.URLField()
    docs = serializers.URLField()


class ApiRoot(APIView):
    """The API's entry point: where its collections and its documentation are."""

    authentication_classes: list = []
    permission_classes = [permissions.AllowAny]

    @extend_schema(responses={200: ApiRootSerializer}, auth=[])
    def get(self, request: Request) -> Response:
        def link(name: str) -> str:
            return request.build_absolute_uri(reverse(name))

        return Response(
            {
                "campaigns": link("api_campaigns"),
                "executions": link("api_executions"),
                "destinations": link("api_destinations"),
                "schema": link("api_schema"),
                "docs": link("api_docs"),
            }
        )


@csrf_exempt
def not_found(request: HttpRequest, *args, **kwargs) -> HttpResponse:
    """Any /api/ address that names nothing (an id that is not a number, say): a JSON 404, never the HTML page."""
    body = {"type": PROBLEM_BASE + "not_found", "title": TITLES[404], "status": 404, "detail": "No API endpoint has this address."}
    return JsonResponse(body, status=404, content_type=PROBLEM_CONTENT_TYPE)
