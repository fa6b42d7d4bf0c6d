"""/api/v1/ for campaigns, runs and schedules. Views parse, call the same services as the pages,
and answer JSON; every object is loaded through the workspace of the token or the session."""

from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_view
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from marketing.api import IDEMPOTENCY_KEY_PARAMETER, idempotent, problem, workspace_of
from marketing.forms import timezone_choices
from marketing.models import Workspace
from marketing.selectors import get_for_workspace_or_404

from . import approval, destinations, executions, imports, scheduling, selectors, services
from .captions import MAX_ALT_TEXT_CHARS
from .models import (
    Campaign, CampaignExecution, CampaignStatus, ErrorCategory, ExecutionSource, ExecutionStatus, Schedule, ScheduleKind,
)
from .recurrence import PRESETS
from .services import MAX_IMAGES


class ExecutionStepSerializer(serializers.Serializer):
    name = serializers.CharField()
    label = serializers.CharField()
    status = serializers.CharField()
    detail = serializers.CharField()
    target = serializers.SerializerMethodField(help_text="Publish steps: the target key, e.g. instagram:12.")
    external_id = serializers.CharField(help_text="What the destination called the result (a media id...).")
    external_url = serializers.CharField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)

    def get_target(self, step) -> str | None:
        return f"{step.destination}:{step.object_id}" if step.destination else None


class BlankAsNullChoiceField(serializers.ChoiceField):
    def to_representation(self, value):
        return value or None


class ExecutionSerializer(serializers.ModelSerializer):
    """A run. ``instagram_media_id``, ``instagram_permalink`` and ``n8n_execution_id`` are kept for
    clients written before campaigns had several targets: the first publish step that reported
    each; per-target results are on ``steps``."""

    id = serializers.UUIDField(source="uuid", read_only=True)
    campaign = serializers.IntegerField(source="campaign_id", read_only=True)
    steps = ExecutionStepSerializer(many=True, read_only=True)
    instagram_media_id = serializers.SerializerMethodField()
    instagram_permalink = serializers.SerializerMethodField()
    n8n_execution_id = serializers.SerializerMethodField()
    # Blank in the database means "none": null in the API, so the value always fits its schema.
    error_category = BlankAsNullChoiceField(choices=ErrorCategory.choices, allow_null=True, read_only=True)

    class Meta:
        model = CampaignExecution
        fields = [
            "id",
            "campaign",
            "source",
            "status",
            "planned_for",
            "queued_at",
            "started_at",
            "finished_at",
            "error_category",
            "error_message",
            "instagram_media_id",
            "instagram_permalink",
            "n8n_execution_id",
            "steps",
        ]
        read_only_fields = fields

    def get_instagram_media_id(self, execution: CampaignExecution) -> str:
        return execution.outputs.get("instagram_media_id", "")

    @extend_schema_field(serializers.URLField(allow_null=True))
    def get_instagram_permalink(self, execution: CampaignExecution) -> str | None:
        return execution.outputs.get("instagram_permalink") or None

    def get_n8n_execution_id(self, execution: CampaignExecution) -> str:
        return execution.outputs.get("n8n_execution_id", "")


class ScheduleSerializer(serializers.ModelSerializer):
    # What dispatch will start: null while the campaign is paused, completed or a draft.
    next_run_at = serializers.DateTimeField(source="upcoming_run_at", read_only=True, allow_null=True)

    class Meta:
        model = Schedule
        fields = ["kind", "run_at", "cron", "preset", "timezone", "starts_at", "ends_at", "max_runs", "runs_planned", "next_run_at"]
        read_only_fields = fields


class TargetKeysField(serializers.ListField):
    """Written as destination keys; read from the campaign's targets."""

    def to_representation(self, targets) -> list[str]:
        return [target.key for target in targets.all()]


class ImageAltTextsField(serializers.ListField):
    """Written as one alt text per image, in carousel order; read from the campaign's images."""

    def get_attribute(self, campaign: Campaign):
        return campaign.images.all()

    def to_representation(self, images) -> list[str]:
        return [image.alt_text for image in images]


class CampaignSerializer(serializers.ModelSerializer):
    images = serializers.SerializerMethodField()
    image_alt_texts = ImageAltTextsField(
        child=serializers.CharField(max_length=MAX_ALT_TEXT_CHARS, allow_blank=True),
        required=False,
        max_length=MAX_IMAGES,
        help_text="What each image shows, for screen readers, in the order of `images` (\"\" for none); "
        "Instagram publishes it with the post. On update, give one for each image.",
    )
    schedule = ScheduleSerializer(read_only=True, allow_null=True)
    targets = TargetKeysField(
        child=serializers.CharField(max_length=64),
        required=False,
        max_length=50,
        help_text="Where runs publish, as destination keys such as instagram:12 or n8n:3. "
        "On update, the list given replaces all targets; leave it out to keep them.",
    )

    class Meta:
        model = Campaign
        fields = [
            "id", "name", "format", "brief", "caption", "hashtags", "first_comment", "status", "targets", "images",
            "image_alt_texts", "schedule", "created_at", "updated_at",
        ]  # fmt: skip
        read_only_fields = ["id", "status", "images", "schedule", "created_at", "updated_at"]
        extra_kwargs = {"name": {"min_length": 1}}  # the schema then says what "" gets: a 400

    def get_images(self, campaign: Campaign) -> list[str]:
        return [image.public_url for image in campaign.images.all()]

    def validate_image_alt_texts(self, value: list[str]) -> list[str]:
        if self.instance is None and value:
            raise serializers.ValidationError("A new campaign has no images yet: describe them once they are added.")
        return value


class StatusSerializer(serializers.Serializer):
    to = serializers.ChoiceField(choices=CampaignStatus.choices)


# The schema states what the scheduling service checks (recurrence.zone, recurrence.validate_cron),
# which stays the one place that checks it and words the errors.
@extend_schema_field({"type": "string", "enum": [name for name, _ in timezone_choices()]})
class _ZoneField(serializers.CharField):
    pass


@extend_schema_field({"type": "string", "maxLength": 100, "pattern": r"^\s*\S+(\s+\S+){4}\s*$"})
class _CronField(serializers.CharField):
    pass


class SchedulePlanSerializer(serializers.Serializer):
    """Times without a zone are read on the schedule zone's wall clock (the page's DST rule).

    `once` needs `run_at`, in the future. `recurring` needs a `preset` or a five-field `cron`.
    """

    kind = serializers.ChoiceField(choices=ScheduleKind.choices)
    timezone = _ZoneField(required=False, help_text="An IANA time zone; default: the workspace's.")
    run_at = serializers.DateTimeField(required=False, default_timezone=None)
    preset = serializers.ChoiceField(choices=list(PRESETS), required=False)
    cron = _CronField(required=False, allow_blank=True, max_length=100, help_text="minute hour day-of-month month day-of-week, e.g. '30 12 * * 1-5'.")
    starts_at = serializers.DateTimeField(required=False, allow_null=True, default_timezone=None)
    ends_at = serializers.DateTimeField(required=False, allow_null=True, default_timezone=None)
    max_runs = serializers.IntegerField(required=False, allow_null=True, min_value=1)
    accept_warnings = serializers.BooleanField(default=False)

    def validate(self, data):
        fields = {name: value for name, value in data.items() if name != "accept_warnings" and value is not None}
        fields.setdefault("timezone", self.context["workspace"].timezone)
        # DRF turns the builder's ValidationError into a 400 by field.
        data["plan"] = scheduling.plan_from_input(**fields)
        return data

    def plan(self) -> scheduling.Plan:
        return self.validated_data["plan"]


def _campaign(request, pk: int) -> Campaign:
    return get_for_workspace_or_404(selectors.campaign_for_detail(workspace=workspace_of(request)), workspace=workspace_of(request), pk=pk)


class CampaignListQuerySerializer(serializers.Serializer):
    """The list's filters; a bad one is a 400 naming the parameter (a NUL byte in ``q`` included)."""

    q = serializers.CharField(required=False, allow_blank=True, max_length=200, help_text="Searches names and captions.")
    status = serializers.ChoiceField(
        choices=["", "all", *CampaignStatus.values], required=False, allow_blank=True, help_text="Default: all but archived."
    )
    sort = serializers.ChoiceField(choices=list(selectors.SORTS), required=False, default="updated")


@extend_schema_view(get=extend_schema(parameters=[CampaignListQuerySerializer]))
class CampaignListApi(generics.ListCreateAPIView):
    serializer_class = CampaignSerializer

    def get_queryset(self):
        query = CampaignListQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        return selectors.campaign_list(
            workspace=workspace_of(self.request),
            search=query.validated_data.get("q", ""),
            status=query.validated_data.get("status", ""),
            sort=query.validated_data["sort"],
        ).select_related("schedule").prefetch_related("targets", "images")

    def perform_create(self, serializer):
        fields = {name: value for name, value in serializer.validated_data.items() if name != "image_alt_texts"}
        serializer.instance = services.campaign_create(workspace=workspace_of(self.request), by=self.request.user, **fields)


class CampaignDetailApi(generics.RetrieveUpdateDestroyAPIView):
    serializer_class = CampaignSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_object(self):
        return _campaign(self.request, self.kwargs["pk"])

    def perform_update(self, serializer):
        serializer.instance = services.campaign_update(
            campaign=serializer.instance, by=self.request.user, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.campaign_delete(campaign=instance, by=self.request.user)


class RunInProgressSerializer(serializers.Serializer):
    detail = serializers.CharField()
    code = serializers.CharField()
    execution = serializers.UUIDField(required=False, help_text="The run already queued or running.")


class CampaignRunApi(APIView):
    """Queues a run: 202 with it, or 409 while another manual run of the campaign is queued or running."""

    @extend_schema(
        request=None,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={202: ExecutionSerializer, 409: RunInProgressSerializer},
    )
    @idempotent
    def post(self, request, pk: int):
        execution = executions.execution_create(campaign=_campaign(request, pk), source=ExecutionSource.API, by=request.user)
        return Response(ExecutionSerializer(execution).data, status=status.HTTP_202_ACCEPTED)


class CampaignStatusApi(APIView):
    @extend_schema(request=StatusSerializer, responses={200: CampaignSerializer})
    def post(self, request, pk: int):
        serializer = StatusSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        campaign = services.campaign_transition(
            campaign=_campaign(request, pk), to=serializer.validated_data["to"], by=request.user, via="api"
        )
        return Response(CampaignSerializer(_campaign(request, campaign.pk)).data)


class CampaignApproveApi(APIView):
    """Approves the campaign's content as it is now (owners and admins; see the workspace's approval setting)."""

    @extend_schema(request=None, responses={200: CampaignSerializer})
    def post(self, request, pk: int):
        campaign = approval.campaign_approve(campaign=_campaign(request, pk), by=request.membership)
        return Response(CampaignSerializer(_campaign(request, campaign.pk)).data)


class ChangesRequestSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=1000, help_text="What should change; emailed to the member who asked for approval.")


class CampaignChangesRequestApi(APIView):
    """Answers a request for approval with what to change (owners and admins)."""

    @extend_schema(request=ChangesRequestSerializer, responses={200: CampaignSerializer})
    def post(self, request, pk: int):
        serializer = ChangesRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        campaign = approval.campaign_changes_request(
            campaign=_campaign(request, pk), by=request.membership, note=serializer.validated_data["note"]
        )
        return Response(CampaignSerializer(_campaign(request, campaign.pk)).data)


class CampaignApprovalRequestApi(APIView):
    """Asks the workspace's owners and admins, by email, to approve the campaign as it is now."""

    @extend_schema(request=None, responses={200: CampaignSerializer})
    def post(self, request, pk: int):
        campaign = approval.campaign_approval_request(campaign=_campaign(request, pk), by=request.user)
        return Response(CampaignSerializer(_campaign(request, campaign.pk)).data)


class ScheduledSerializer(serializers.Serializer):
    campaign = CampaignSerializer()
    warnings = serializers.ListField(child=serializers.CharField(), help_text="Conflicts accepted with accept_warnings.")


class CampaignScheduleApi(APIView):
    @extend_schema(request=SchedulePlanSerializer, responses={200: ScheduledSerializer})
    def put(self, request, pk: int):
        campaign = _campaign(request, pk)
        serializer = SchedulePlanSerializer(data=request.data, context={"workspace": workspace_of(request)})
        serializer.is_valid(raise_exception=True)
        report = scheduling.campaign_schedule(
            campaign=campaign,
            plan=serializer.plan(),
            by=request.user,
            via="api",
            accept_warnings=serializer.validated_data["accept_warnings"],
        )
        return Response({"campaign": CampaignSerializer(_campaign(request, pk)).data, "warnings": report.warnings})

    @extend_schema(request=None, responses={204: None})
    def delete(self, request, pk: int):
        scheduling.campaign_unschedule(campaign=_campaign(request, pk), by=request.user, via="api")
        return Response(status=status.HTTP_204_NO_CONTENT)


class QueuedSerializer(serializers.Serializer):
    campaign = CampaignSerializer()
    publishes_at = serializers.DateTimeField(help_text="The posting time it took.")
    warnings = serializers.ListField(child=serializers.CharField(), help_text="Conflicts with other campaigns' runs.")


class CampaignQueueApi(APIView):
    """Schedules the campaign once at the workspace's next free posting time (Add to queue).
    400 when the workspace has no posting times, or every one of the next weeks is taken."""

    @extend_schema(request=None, responses={200: QueuedSerializer})
    def post(self, request, pk: int):
        moment, report = scheduling.campaign_queue(campaign=_campaign(request, pk), by=request.user, via="api")
        return Response(
            {"campaign": CampaignSerializer(_campaign(request, pk)).data, "publishes_at": moment, "warnings": report.warnings}
        )


class ImportRequestSerializer(serializers.Serializer):
    csv = serializers.CharField(
        max_length=imports.MAX_BYTES,
        trim_whitespace=False,
        help_text="The file's text: a header row naming the columns (name required; caption, hashtags, first_comment, "
        "brief, targets, publish_at, cron, timezone), then one campaign a row. Commas, semicolons or tabs.",
    )
    dry_run = serializers.BooleanField(default=False, help_text="Check every row and keep nothing.")


class ImportRowSerializer(serializers.Serializer):
    line = serializers.IntegerField(help_text="The row's line in the file; the header is line 1.")
    name = serializers.CharField()
    targets = serializers.ListField(child=serializers.CharField(), help_text="The destinations, as the pages name them.")
    schedule = serializers.CharField(help_text="When it publishes, in words; empty for a draft.")
    errors = serializers.ListField(child=serializers.CharField())
    warnings = serializers.ListField(child=serializers.CharField())
    campaign = serializers.IntegerField(allow_null=True, help_text="The campaign made (null on a dry run or a refusal).")


class ImportReportSerializer(serializers.Serializer):
    imported = serializers.BooleanField(help_text="False on a dry run.")
    problems = serializers.ListField(child=serializers.CharField(), help_text="About the whole file.")
    rows = ImportRowSerializer(many=True)


def _import_report(report: imports.ImportReport) -> dict:
    return {
        "imported": report.committed,
        "problems": report.problems,
        "rows": [
            {
                "line": row.line,
                "name": row.name,
                "targets": row.targets,
                "schedule": row.schedule,
                "errors": row.errors,
                "warnings": row.warnings,
                "campaign": row.campaign.pk if row.campaign is not None and report.committed else None,
            }
            for row in report.rows
        ],
    }


class CampaignImportApi(APIView):
    """Campaigns from CSV, as the import page makes them: every row checked by the same rules, then all
    created or none. 201 with the campaigns made; 200 for a dry run; 400 with the report when a row or
    the file is refused (nothing is kept)."""

    @extend_schema(
        request=ImportRequestSerializer,
        parameters=[IDEMPOTENCY_KEY_PARAMETER],
        responses={200: ImportReportSerializer, 201: ImportReportSerializer},
    )
    @idempotent
    def post(self, request):
        serializer = ImportRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        dry_run = serializer.validated_data["dry_run"]
        try:
            report = imports.campaigns_import(
                workspace=workspace_of(request), by=request.user, text=serializer.validated_data["csv"], commit=not dry_run
            )
        except imports.ImportRefused as refused:
            report = refused.report
        if not report.ok:
            # The problem's shape, with the report beside it: each row's messages under `rows`.
            messages = report.problems + [f"Line {row.line}: {error}" for row in report.rows for error in row.errors]
            detail = f"{report.error_count} problem{'s' if report.error_count != 1 else ''}; nothing was imported."
            body = _import_report(report)
            return problem(400, detail, code="import_refused", errors={"csv": messages}, problems=body["problems"], rows=body["rows"])
        return Response(_import_report(report), status=status.HTTP_200_OK if dry_run else status.HTTP_201_CREATED)


class CampaignExecutionsApi(generics.ListAPIView):
    serializer_class = ExecutionSerializer

    def get_queryset(self):
        campaign = _campaign(self.request, self.kwargs["pk"])
        return campaign.executions.prefetch_related("steps").order_by("-queued_at", "-id")


class ExecutionListQuerySerializer(serializers.Serializer):
    """The run list's filters; a bad one is a 400 naming the parameter."""

    status = serializers.ChoiceField(choices=ExecutionStatus.values, required=False)
    source = serializers.ChoiceField(choices=ExecutionSource.values, required=False)
    campaign = serializers.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, help_text="A campaign's id: only its runs."
    )
    since = serializers.DateTimeField(required=False, help_text="Only runs queued at or after this time (ISO 8601).")


@extend_schema_view(get=extend_schema(parameters=[ExecutionListQuerySerializer]))
class ExecutionListApi(generics.ListAPIView):
    """Every run of the workspace, newest first, as on the Runs page; paged as every list of the API is."""

    serializer_class = ExecutionSerializer

    def get_queryset(self):
        query = ExecutionListQuerySerializer(data=self.request.query_params)
        query.is_valid(raise_exception=True)
        filters = query.validated_data
        if "campaign" in filters:
            _campaign(self.request, filters["campaign"])  # another workspace's campaign is a 404
        return selectors.run_list(
            workspace=workspace_of(self.request),
            status=filters.get("status", ""),
            source=filters.get("source", ""),
            since=filters.get("since"),
            campaign_id=filters.get("campaign"),
        ).prefetch_related("steps")


class ExecutionDetailApi(generics.RetrieveAPIView):
    serializer_class = ExecutionSerializer

    def get_object(self):
        return get_for_workspace_or_404(
            CampaignExecution.objects.prefetch_related("steps"), workspace=workspace_of(self.request), uuid=self.kwargs["uuid"]
        )


class DestinationSerializer(serializers.Serializer):
    """One object of the workspace that campaigns can publish to, as the campaign form offers it."""

    key = serializers.CharField(help_text="What a campaign's `targets` takes, e.g. instagram:12.")
    kind = serializers.CharField(help_text="The destination: instagram, n8n, wordpress...")
    kind_label = serializers.CharField(help_text="The destination in words, e.g. Instagram.")
    id = serializers.IntegerField(help_text="The object's id (an Instagram account's, an n8n workflow's...).")
    name = serializers.CharField(help_text="How the pages name it, e.g. @shop.")
    can_publish = serializers.BooleanField(
        help_text="False when a run would fail to publish there now, e.g. an Instagram account to reconnect."
    )
    note = serializers.CharField(help_text="Why it cannot publish now (e.g. needs reconnecting); empty when it can.")


def _destination_rows(*, workspace: Workspace) -> list[dict]:
    """The targets the campaign form offers, as the API names them; a query or so per destination."""
    rows = []
    for choices in destinations.target_choices(workspace=workspace).values():
        for choice in choices:
            kind, object_id = destinations.parse_key(choice.key)
            rows.append(
                {
                    "key": choice.key,
                    "kind": kind,
                    "kind_label": destinations.destination_label(kind),
                    "id": object_id,
                    "name": choice.label,
                    "can_publish": choice.ready,
                    "note": choice.note,
                }
            )
    return rows


class DestinationListApi(generics.ListAPIView):
    """Where the workspace's campaigns can publish: the keys `targets` takes, the ones the campaign
    form offers (a disconnected Instagram account is left out); paged as every list of the API is."""

    serializer_class = DestinationSerializer

    def get_queryset(self):
        return _destination_rows(workspace=workspace_of(self.request))
