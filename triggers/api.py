"""/api/v1/ for triggers: fire a manual trigger. Same services as the pages, same auth as the rest of the API."""

from django.core.exceptions import ValidationError
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from marketing.api import IDEMPOTENCY_KEY_PARAMETER, idempotent, problem, workspace_of
from marketing.selectors import get_for_workspace_or_404

from . import selectors, services
from .models import TriggerEvent


class TriggerEventSerializer(serializers.ModelSerializer):
    event = serializers.UUIDField(source="uuid", read_only=True)
    trigger = serializers.IntegerField(source="trigger_id", read_only=True)
    skipped = serializers.CharField(source="skipped_reason", read_only=True)
    executions = serializers.SerializerMethodField()

    class Meta:
        model = TriggerEvent
        fields = ["event", "trigger", "source", "received_at", "matched", "fired", "skipped", "note", "executions"]
        read_only_fields = fields

    def get_executions(self, event: TriggerEvent) -> list[str]:
        return [str(uuid) for uuid in event.executions.order_by("pk").values_list("uuid", flat=True)]


class TriggerFireApi(APIView):
    """Fires a manual trigger: 202 with the runs it queued, 409 when it did not fire and why.

    The body is optional; when given it is a JSON object, kept as the event's payload. Any other
    JSON (an array, a string, a number, null) is refused with a 400, as the webhook intake does.
    """

    @extend_schema(
        request={
            "application/json": {"type": "object", "additionalProperties": True, "description": "Optional: kept as the event's payload."}
        },
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={202: TriggerEventSerializer, 409: TriggerEventSerializer},
    )
    @idempotent
    def post(self, request, pk: int):
        workspace = workspace_of(request)
        trigger = get_for_workspace_or_404(selectors.trigger_for_detail(workspace=workspace), workspace=workspace, pk=pk)
        payload: dict = {}
        # Only a JSON body is an event; a form post without one (the docs' "Try it out") fires as before.
        if request.content_type.split(";")[0].strip().endswith(("/json", "+json")) and request.body.strip():
            try:
                payload = services.parse_payload(request.body)
            except services.Rejected as rejection:
                return problem(400, rejection.message, code=rejection.reason)
        try:
            event = services.trigger_fire_manual(trigger=trigger, by=request.user, payload=payload)
        except ValidationError as error:
            return Response({"detail": " ".join(error.messages), "code": error.code}, status=status.HTTP_409_CONFLICT)
        return Response(
            TriggerEventSerializer(event).data,
            status=status.HTTP_202_ACCEPTED if event.fired else status.HTTP_409_CONFLICT,
        )
