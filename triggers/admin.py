import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from . import selectors, services
from .models import Trigger, TriggerEvent, TriggerKind, TriggerRejection


class TriggerAdminForm(forms.ModelForm):
    class Meta:
        model = Trigger
        fields = "__all__"

    def clean(self):
        cleaned = super().clean()
        workspace = cleaned.get("workspace")
        campaigns = cleaned.get("campaigns") or []
        if workspace is not None and any(campaign.workspace_id != workspace.pk for campaign in campaigns):
            self.add_error("campaigns", "A trigger only starts campaigns of its own workspace.")
        return cleaned


class TriggerRejectionInline(admin.TabularInline):
    model = TriggerRejection
    extra = 0
    fields = ["reason", "count", "last_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Trigger)
class TriggerAdmin(admin.ModelAdmin):
    form = TriggerAdminForm
    list_display = ["name", "workspace", "kind", "enabled", "cooldown", "last_fired_at", "next_fire_at"]
    list_filter = ["kind", "enabled", "workspace"]
    search_fields = ["name", "workspace__name", "token"]
    list_select_related = ["workspace"]
    autocomplete_fields = ["workspace", "campaigns"]
    readonly_fields = ["token", "signing_secret_set_at", "last_fired_at", "next_fire_at", "created_by", "created_at", "updated_at"]
    inlines = [TriggerRejectionInline]
    actions = ["enable", "disable", "fire_now", "regenerate_token"]

    def save_model(self, request: HttpRequest, obj: Trigger, form, change: bool) -> None:
        # The same rules as the pages: a time trigger's next fire time follows its cron, a
        # change never writes back last_fired_at (the cooldown's compare-and-set owns it), and
        # event intake must not go on reading the trigger as it was.
        services.plan_next_fire(obj)
        if change:
            kept = {"id", "last_fired_at", "token", "created_at", "created_by"}
            obj.save(update_fields=[f.name for f in Trigger._meta.concrete_fields if f.name not in kept])
        else:
            obj.created_by = request.user
            obj.save()
        selectors.trigger_token_forget(obj.token)

    def delete_model(self, request: HttpRequest, obj: Trigger) -> None:
        super().delete_model(request, obj)
        selectors.trigger_token_forget(obj.token)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Trigger]) -> None:
        tokens = list(queryset.values_list("token", flat=True))
        super().delete_queryset(request, queryset)
        selectors.trigger_token_forget(*tokens)

    @admin.action(description="Enable")
    def enable(self, request: HttpRequest, queryset: QuerySet[Trigger]) -> None:
        self._each(request, queryset, lambda t: services.trigger_set_enabled(trigger=t, enabled=True, by=request.user), "enabled")

    @admin.action(description="Disable")
    def disable(self, request: HttpRequest, queryset: QuerySet[Trigger]) -> None:
        self._each(request, queryset, lambda t: services.trigger_set_enabled(trigger=t, enabled=False, by=request.user), "disabled")

    @admin.action(description="Fire now (manual triggers)")
    def fire_now(self, request: HttpRequest, queryset: QuerySet[Trigger]) -> None:
        self._each(request, queryset.filter(kind=TriggerKind.MANUAL), lambda t: services.trigger_fire_manual(trigger=t, by=request.user), "fired")

    @admin.action(description="Regenerate the inbound URL")
    def regenerate_token(self, request: HttpRequest, queryset: QuerySet[Trigger]) -> None:
        self._each(request, queryset, lambda t: services.trigger_regenerate_token(trigger=t, by=request.user), "gave a new URL to")

    def _each(self, request: HttpRequest, queryset: QuerySet[Trigger], action, verb: str) -> None:
        done = 0
        for trigger in queryset.select_related("workspace"):
            try:
                action(trigger)
                done += 1
            except ValidationError as error:
                self.message_user(request, f"{trigger.name}: {' '.join(error.messages)}", messages.ERROR)
        if done:
            self.message_user(request, f"{verb.capitalize()} {done} trigger(s).", messages.SUCCESS)


@admin.register(TriggerEvent)
class TriggerEventAdmin(admin.ModelAdmin):
    list_display = ["received_at", "trigger", "workspace", "source", "matched", "fired", "skipped_reason"]
    list_filter = ["source", "matched", "fired", "skipped_reason", "received_at"]
    # The event id a sender was answered with finds its event.
    search_fields = ["=uuid", "trigger__name", "workspace__name"]
    list_select_related = ["trigger", "workspace"]
    date_hierarchy = "received_at"
    exclude = ["payload", "decision", "executions"]
    readonly_fields = [
        "uuid",
        "workspace",
        "trigger",
        "received_at",
        "source",
        "matched",
        "fired",
        "skipped_reason",
        "note",
        "planned_for",
        "requested_by",
        "decision_pretty",
        "payload_pretty",
        "runs",
    ]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Decision")
    def decision_pretty(self, obj: TriggerEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.decision, indent=2, ensure_ascii=False))

    @admin.display(description="Payload")
    def payload_pretty(self, obj: TriggerEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, ensure_ascii=False)[:20000])

    @admin.display(description="Runs started")
    def runs(self, obj: TriggerEvent) -> str:
        return ", ".join(str(execution) for execution in obj.executions.select_related("campaign")) or "—"
