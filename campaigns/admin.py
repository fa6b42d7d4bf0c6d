from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from marketing.admin_mixins import NoAddMixin
from marketing.forms import TimezoneField
from marketing.service_admin import ServiceAdmin, ServiceInline
from marketing.web import add_service_errors

from . import executions, scheduling, services
from .forms import WallClockField
from .models import (
    Campaign,
    CampaignComment,
    CampaignExecution,
    CampaignImage,
    CampaignStatus,
    CampaignStatusChange,
    CampaignTarget,
    ExecutionSource,
    ExecutionStep,
    HashtagGroup,
    ImageGeneration,
    Schedule,
)


class CampaignImageFormSet(BaseInlineFormSet):
    def delete_existing(self, obj: CampaignImage, commit: bool = True) -> None:
        # The service renumbers the carousel and deletes the file once committed.
        services.campaign_image_remove(image=obj)


class CampaignImageInline(NoAddMixin, ServiceInline):
    """Images are added and reordered on the campaign's page; here staff can only remove one."""

    model = CampaignImage
    formset = CampaignImageFormSet
    extra = 0
    fields = ["position", "preview", "alt_text", "width", "height", "source", "model", "fallback_reason"]
    readonly_fields = fields

    class Media:
        css = {"all": ["css/admin.css"]}

    @admin.display(description="Image")
    def preview(self, image: CampaignImage) -> str:
        # Through the image's public URL: media files are not served as such, so the file
        # field's own link led nowhere, and the marketers' image URLs answer for their workspace only.
        url = reverse("public_image", args=[image.token.hex])
        return format_html('<a href="{0}"><img class="admin-thumb" src="{0}" alt="" width="96" height="96"></a>', url)


class CampaignTargetInline(NoAddMixin, admin.TabularInline):
    """Read-only: targets are chosen on the campaign page or through the API, where they are checked."""

    model = CampaignTarget
    extra = 0
    fields = ["destination", "object_id", "created_at"]
    readonly_fields = fields
    can_delete = False


class CampaignExecutionInline(NoAddMixin, admin.TabularInline):
    model = CampaignExecution
    extra = 0
    fields = ["uuid", "source", "status", "queued_at", "finished_at", "error_category", "error_message"]
    readonly_fields = fields
    show_change_link = True
    can_delete = False
    ordering = ["-queued_at"]


class StatusChangeInline(NoAddMixin, admin.TabularInline):
    model = CampaignStatusChange
    extra = 0
    fields = ["at", "from_status", "to_status", "by", "via", "note"]
    readonly_fields = fields
    can_delete = False


@admin.register(Campaign)
class CampaignAdmin(ServiceAdmin):
    """Edits go through campaign_create and campaign_update, deletions through campaign_delete."""

    list_display = ["name", "workspace", "status", "created_by", "updated_at"]
    list_filter = ["status", "created_at", "updated_at", "workspace"]
    search_fields = ["name", "caption", "brief", "workspace__name"]
    list_select_related = ["workspace", "created_by"]
    # Approval is the workspace's own: staff see it, and change it only through the pages or the API.
    APPROVAL_FIELDS = [
        "approved_by", "approved_at", "approval_requested_by", "approval_requested_at",
        "changes_requested_by", "changes_requested_at", "changes_requested_note",
    ]
    fields = [
        "workspace", *services.EDITABLE_FIELDS, "status", "created_by", "updated_by", "created_at", "updated_at",
        *APPROVAL_FIELDS,
    ]
    readonly_fields = ["status", "created_by", "updated_by", "created_at", "updated_at", *APPROVAL_FIELDS]
    autocomplete_fields = ["workspace"]
    inlines = [CampaignTargetInline, CampaignImageInline, CampaignExecutionInline, StatusChangeInline]
    actions = ["run_now", "archive"]

    def get_readonly_fields(self, request: HttpRequest, obj: Campaign | None = None) -> list[str]:
        if obj is None:
            return self.readonly_fields
        # A campaign stays in its workspace; an archived one is restored to a draft before editing.
        frozen = ["workspace", *services.EDITABLE_FIELDS] if obj.status == CampaignStatus.ARCHIVED else ["workspace"]
        return [*frozen, *self.readonly_fields]

    def save_model(self, request: HttpRequest, obj: Campaign, form, change: bool) -> None:
        fields = {name: getattr(obj, name) for name in services.EDITABLE_FIELDS if name in form.cleaned_data}
        if change and not set(form.changed_data) & set(fields):
            return  # Only inlines changed; they call their own services.
        if change:
            services.campaign_update(campaign=obj, by=request.user, **fields)
        else:
            obj.pk = services.campaign_create(workspace=obj.workspace, by=request.user, **fields).pk

    def delete_model(self, request: HttpRequest, obj: Campaign) -> None:
        services.campaign_delete(campaign=obj, by=request.user)

    @admin.action(description="Run now")
    def run_now(self, request: HttpRequest, queryset: QuerySet[Campaign]) -> None:
        self._each(request, queryset, lambda c: executions.execution_create(campaign=c, source=ExecutionSource.MANUAL, by=request.user), "queued a run for")

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


class ExecutionStepInline(NoAddMixin, admin.TabularInline):
    model = ExecutionStep
    extra = 0
    fields = [
        "position", "name", "destination", "object_id", "status", "detail", "external_id", "external_url",
        "error_category", "state", "started_at", "finished_at",
    ]
    readonly_fields = fields
    can_delete = False


@admin.register(CampaignExecution)
class CampaignExecutionAdmin(NoAddMixin, admin.ModelAdmin):
    list_display = ["uuid", "campaign", "workspace", "source", "status", "error_category", "queued_at", "finished_at"]
    list_filter = ["status", "source", "error_category", "queued_at"]
    search_fields = ["uuid", "campaign__name", "workspace__name", "steps__external_id"]
    list_select_related = ["campaign", "workspace"]
    readonly_fields = [f.name for f in CampaignExecution._meta.fields]
    inlines = [ExecutionStepInline]
    actions = ["cancel"]

    @admin.action(description="Cancel")
    def cancel(self, request: HttpRequest, queryset: QuerySet[CampaignExecution]) -> None:
        for execution in queryset.select_related("campaign"):
            try:
                executions.execution_cancel(execution=execution, by=request.user)
            except ValidationError as error:
                self.message_user(request, f"{execution}: {' '.join(error.messages)}", messages.ERROR)


@admin.register(ImageGeneration)
class ImageGenerationAdmin(NoAddMixin, admin.ModelAdmin):
    list_display = ["campaign", "status", "model", "created_at", "finished_at"]
    list_filter = ["status", "model", "created_at"]
    search_fields = ["campaign__name", "prompt", "fallback_reason"]
    list_select_related = ["campaign"]
    readonly_fields = [f.name for f in ImageGeneration._meta.fields]


class ScheduleAdminForm(forms.ModelForm):
    """Times are typed on the wall clock of the schedule's zone, as on the page."""

    run_at = WallClockField(label="Run at")
    timezone = TimezoneField(required=False, help_text="Empty: the workspace's zone.")
    starts_at = WallClockField(label="Starting")
    ends_at = WallClockField(label="Ending")
    accept_warnings = forms.BooleanField(required=False, help_text="Save even if another campaign publishes too close.")

    class Meta:
        model = Schedule
        fields = ["campaign", "kind", "run_at", "cron", "timezone", "starts_at", "ends_at", "max_runs"]

    def clean(self):
        cleaned = super().clean()
        campaign = cleaned.get("campaign") or (self.instance.campaign if self.instance.campaign_id else None)
        if campaign is None or self.errors:
            return cleaned
        try:
            self.plan = scheduling.plan_from_input(
                kind=cleaned["kind"],
                timezone=cleaned.get("timezone") or campaign.workspace.timezone,
                run_at=cleaned.get("run_at"),
                cron=cleaned.get("cron", ""),
                starts_at=cleaned.get("starts_at"),
                ends_at=cleaned.get("ends_at"),
                max_runs=cleaned.get("max_runs"),
            )
        except ValidationError as error:
            add_service_errors(self, error)
        return cleaned


@admin.register(Schedule)
class ScheduleAdmin(ServiceAdmin):
    """Saves through campaign_schedule (the plan, the conflict rule, the status) and deletes
    through campaign_unschedule, one schedule at a time even in bulk."""

    form = ScheduleAdminForm
    list_display = ["campaign", "kind", "cron", "timezone", "next_run_at", "runs_planned", "max_runs"]
    list_filter = ["kind", "timezone"]
    search_fields = ["campaign__name", "cron"]
    list_select_related = ["campaign"]
    readonly_fields = ["runs_planned", "next_run_at"]
    autocomplete_fields = ["campaign"]

    def get_readonly_fields(self, request: HttpRequest, obj: Schedule | None = None) -> list[str]:
        return [*self.readonly_fields, "campaign"] if obj is not None else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Schedule, form, change: bool) -> None:
        scheduling.campaign_schedule(
            campaign=obj.campaign,
            plan=form.plan,
            by=request.user,
            via="admin",
            accept_warnings=form.cleaned_data["accept_warnings"],
        )
        saved = Schedule.objects.get(campaign=obj.campaign)
        obj.pk, obj.next_run_at, obj.runs_planned = saved.pk, saved.next_run_at, saved.runs_planned

    def delete_model(self, request: HttpRequest, obj: Schedule) -> None:
        scheduling.campaign_unschedule(campaign=obj.campaign, by=request.user, via="admin")


@admin.register(HashtagGroup)
class HashtagGroupAdmin(ServiceAdmin):
    """Saves through hashtag_group_save (the names' uniqueness, Instagram's hashtag limit)."""

    list_display = ["name", "workspace", "hashtags", "updated_at"]
    search_fields = ["name", "hashtags", "workspace__name"]
    list_select_related = ["workspace"]
    autocomplete_fields = ["workspace"]

    def get_readonly_fields(self, request: HttpRequest, obj: HashtagGroup | None = None) -> list[str]:
        return ["workspace"] if obj is not None else []

    def save_model(self, request: HttpRequest, obj: HashtagGroup, form, change: bool) -> None:
        saved = services.hashtag_group_save(
            workspace=obj.workspace, name=obj.name, hashtags=obj.hashtags, group=obj if change else None
        )
        obj.pk = saved.pk

    def delete_model(self, request: HttpRequest, obj: HashtagGroup) -> None:
        services.hashtag_group_delete(group=obj)


@admin.register(CampaignComment)
class CampaignCommentAdmin(NoAddMixin, admin.ModelAdmin):
    """The team's comments, for staff to read (and delete one that should not be there)."""

    list_display = ["campaign", "author", "created_at"]
    search_fields = ["body", "campaign__name", "author__email"]
    list_select_related = ["campaign", "author"]
    readonly_fields = ["workspace", "campaign", "author", "body", "created_at"]
