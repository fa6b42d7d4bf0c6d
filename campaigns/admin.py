from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from . import services
from .models import (
    Campaign,
    CampaignExecution,
    CampaignImage,
    CampaignStatusChange,
    ExecutionSource,
    ExecutionStep,
    ImageGeneration,
)


class CampaignImageInline(admin.TabularInline):
    model = CampaignImage
    extra = 0
    fields = ["position", "file", "width", "height", "source", "model", "fallback_reason"]
    readonly_fields = ["file", "width", "height", "source", "model", "fallback_reason"]


class CampaignExecutionInline(admin.TabularInline):
    model = CampaignExecution
    extra = 0
    fields = ["uuid", "source", "status", "queued_at", "finished_at", "error_category", "error_message"]
    readonly_fields = fields
    show_change_link = True
    can_delete = False
    ordering = ["-queued_at"]

    def has_add_permission(self, request, obj=None) -> bool:
        return False


class StatusChangeInline(admin.TabularInline):
    model = CampaignStatusChange
    extra = 0
    fields = ["at", "from_status", "to_status", "by", "via", "note"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["name", "workspace", "status", "created_by", "updated_at"]
    list_filter = ["status", "created_at", "updated_at", "workspace"]
    search_fields = ["name", "caption", "brief", "workspace__name"]
    list_select_related = ["workspace", "created_by"]
    readonly_fields = ["status", "created_by", "updated_by", "created_at", "updated_at"]
    autocomplete_fields = ["workspace"]
    inlines = [CampaignImageInline, CampaignExecutionInline, StatusChangeInline]
    actions = ["run_now", "archive"]

    @admin.action(description="Run now")
    def run_now(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._each(request, queryset, lambda c: services.execution_start(campaign=c, source=ExecutionSource.MANUAL, by=request.user), "queued a run for")

    @admin.action(description="Archive")
    def archive(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._each(request, queryset, lambda c: services.campaign_archive(campaign=c, by=request.user, via="admin"), "archived")

    def _each(self, request: HttpRequest, queryset: QuerySet[Campaign], action, verb: str) -> None:
        done = 0
        for campaign in queryset:
            try:
                action(campaign)
                done += 1
            except ValidationError as error:
                self.message_user(request, f"{campaign.name}: {' '.join(error.messages)}", messages.ERROR)
        if done:
            self.message_user(request, f"{verb.capitalize()} {done} campaign(s).", messages.SUCCESS)


class ExecutionStepInline(admin.TabularInline):
    model = ExecutionStep
    extra = 0
    fields = ["position", "name", "status", "detail", "state", "started_at", "finished_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CampaignExecution)
class CampaignExecutionAdmin(admin.ModelAdmin):
    list_display = ["uuid", "campaign", "workspace", "source", "status", "error_category", "queued_at", "finished_at"]
    list_filter = ["status", "source", "error_category", "queued_at"]
    search_fields = ["uuid", "campaign__name", "workspace__name", "instagram_media_id", "n8n_execution_id"]
    list_select_related = ["campaign", "workspace"]
    readonly_fields = [f.name for f in CampaignExecution._meta.fields]
    inlines = [ExecutionStepInline]
    actions = ["cancel"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Cancel")
    def cancel(self, request: HttpRequest, queryset: QuerySet[CampaignExecution]) -> None:
        for execution in queryset.select_related("campaign"):
            try:
                services.execution_cancel(execution=execution, by=request.user)
            except ValidationError as error:
                self.message_user(request, f"{execution}: {' '.join(error.messages)}", messages.ERROR)


@admin.register(ImageGeneration)
class ImageGenerationAdmin(admin.ModelAdmin):
    list_display = ["campaign", "status", "model", "created_at", "finished_at"]
    list_filter = ["status", "model", "created_at"]
    search_fields = ["campaign__name", "prompt", "fallback_reason"]
    list_select_related = ["campaign"]
    readonly_fields = [f.name for f in ImageGeneration._meta.fields]


