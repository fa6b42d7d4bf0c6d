"""The JSON API's shared parts: errors as JSON, the request's workspace, and idempotency keys."""

import functools
from collections.abc import Callable

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from . import idempotency


def exception_handler(exc, context):
    """Errors from services become 400s with the same messages the pages show; plan limits 402s."""
    from billing.services import LimitReached

    if isinstance(exc, LimitReached):
        return Response(exc.as_json(), status=402)
    if isinstance(exc, DjangoValidationError):
        if getattr(exc, "code", None) == "run_in_progress":
            running = getattr(exc, "execution", None)
            body = {"detail": " ".join(exc.messages), "code": exc.code}
            if running is not None:
                body["execution"] = str(running.uuid)
            return Response(body, status=409)
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"detail": exc.messages}
        return Response(detail, status=400)
    if isinstance(exc, Http404):
        return Response({"detail": "Not found."}, status=404)
    return drf_exception_handler(exc, context)


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
            return Response({"detail": str(error)}, status=400)
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
            return Response({"detail": str(error)}, status=422)
        if not answer.replayed:
            return first[0]
        response = Response(answer.body, status=answer.status)
        response["Idempotent-Replayed"] = "true"
        return response

    return wrapper
