"""/api/v1/sources/: content sources and their items. Same services as the pages, same auth as the rest of the API."""

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import generics, serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from marketing.api import workspace_of
from marketing.selectors import get_for_workspace_or_404

from . import selectors, services
from .models import ContentItem, ContentSource


class _WorkspaceChoice(serializers.PrimaryKeyRelatedField):
    """A choice among the request workspace's objects: another workspace's id "does not exist"."""

    def __init__(self, *, choices, **kwargs) -> None:
        self.choices_for = choices
        super().__init__(**kwargs)

    def get_queryset(self):
        return self.choices_for(workspace=self.context["workspace"])


# The schema states what the service checks (fetch.check_url), which stays the one place that does.
@extend_schema_field({"type": "string", "format": "uri", "pattern": "^https?://", "maxLength": 1000})
class _HttpUrlField(serializers.URLField):
    pass


class SourceSerializer(serializers.ModelSerializer):
    """A feed takes no WordPress user name or password; a WordPress site takes both or neither.
    A source sends each new post to `trigger`, creates a draft campaign (`create_drafts`), or
    both; only one that creates campaigns may `publish_automatically`."""

    url = _HttpUrlField(max_length=1000, help_text="The feed's URL, or the WordPress site's home page: http:// or https://.")
    wp_app_password = serializers.CharField(write_only=True, required=False, allow_blank=True, max_length=200)
    has_app_password = serializers.SerializerMethodField()
    trigger = _WorkspaceChoice(choices=selectors.trigger_choices, required=False, allow_null=True)
    template_campaign = _WorkspaceChoice(choices=selectors.template_campaign_choices, required=False, allow_null=True)

    class Meta:
        model = ContentSource
        fields = [
            "id", "name", "kind", "url", "wp_username", "wp_app_password", "has_app_password", "poll_interval",
            "trigger", "create_drafts", "publish_automatically", "template_campaign", "wp_post_status", "wp_category",
            "state", "last_error",
            "failures", "last_polled_at", "last_success_at", "next_poll_at", "site_title", "created_at",
        ]  # fmt: skip
        read_only_fields = [
            "id", "has_app_password", "state", "last_error", "failures", "last_polled_at", "last_success_at",
            "next_poll_at", "site_title", "created_at",
        ]  # fmt: skip

    def get_fields(self):
        fields = super().get_fields()
        if self.instance is not None and not isinstance(self.instance, list | tuple):
            fields["kind"].read_only = True
        return fields

    def get_has_app_password(self, source: ContentSource) -> bool:
        return bool(source.wp_app_password)


class ItemSerializer(serializers.ModelSerializer):
    campaign = serializers.PrimaryKeyRelatedField(read_only=True)
    event = serializers.UUIDField(source="event_uuid", read_only=True)

    class Meta:
        model = ContentItem
        fields = [
            "id", "source", "guid", "title", "link", "excerpt", "author", "categories", "tags", "image_url",
            "published_at", "status", "event", "campaign", "note", "imported_at",
        ]  # fmt: skip
        read_only_fields = fields


class CheckSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    new_items = serializers.IntegerField()
    not_modified = serializers.BooleanField()
    message = serializers.CharField()


def _source(request, pk: int) -> ContentSource:
    workspace = workspace_of(request)
    return get_for_workspace_or_404(selectors.source_for_detail(workspace=workspace), workspace=workspace, pk=pk)


class _WorkspaceContext:
    def get_serializer_context(self):
        return {**super().get_serializer_context(), "workspace": workspace_of(self.request)}


class SourceListApi(_WorkspaceContext, generics.ListCreateAPIView):
    serializer_class = SourceSerializer

    def get_queryset(self):
        return selectors.source_list(workspace=workspace_of(self.request))

    def perform_create(self, serializer):
        serializer.instance = services.source_create(
            workspace=workspace_of(self.request), by=self.request.user, **serializer.validated_data
        )


class SourceDetailApi(_WorkspaceContext, generics.RetrieveUpdateDestroyAPIView):
    serializer_class = SourceSerializer
    http_method_names = ["get", "patch", "delete", "head", "options"]

    def get_object(self):
        return _source(self.request, self.kwargs["pk"])

    def perform_update(self, serializer):
        serializer.instance = services.source_update(
            source=serializer.instance, by=self.request.user, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        services.source_delete(source=instance)


class SourcePollApi(APIView):
    """Checks the source now: 200 with what the check found; ``ok`` false with the reason when it failed."""

    @extend_schema(request=None, responses={200: CheckSerializer, 409: CheckSerializer})
    def post(self, request, pk: int):
        source = _source(request, pk)
        result = services.source_poll(source_id=source.pk)
        if result is None:
            body = {"ok": False, "new_items": 0, "not_modified": False, "message": "The source is paused."}
            return Response(body, status=status.HTTP_409_CONFLICT)
        body = {"ok": result.ok, "new_items": result.new_items, "not_modified": result.not_modified, "message": result.message}
        return Response(body)


class SourceItemsApi(generics.ListAPIView):
    serializer_class = ItemSerializer

    def get_queryset(self):
        return selectors.item_list(source=_source(self.request, self.kwargs["pk"]))
