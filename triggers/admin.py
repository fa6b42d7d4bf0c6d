import json

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.html import format_html

from marketing.admin_mixins import NoAddMixin
from marketing.service_admin import ServiceAdmin

from . import selectors, services
from .models import Trigger, TriggerEvent, TriggerKind, TriggerRejection


class TriggerRejectionInline(NoAddMixin, admin.TabularInline):
    model = TriggerRejection
    extra = 0
    fields = ["reason", "count", "last_at"]
    readonly_fields = fields
    can_delete = False


@admin.register(Trigger)
class TriggerAdmin(ServiceAdmin):
    """Saves through trigger_create and trigger_update (the workspace rule for campaigns, the
    next fire time, the token cache) and deletes through trigger_delete."""

    fields = ["workspace", "name", "kind", "campaigns", "enabled", "cooldown", "cron", "timezone", "rules"]
    list_display = ["name", "workspace", "kind", "enabled", "cooldown", "last_fired_at", "next_fire_at"]
    list_filter = ["kind", "enabled", "workspace"]
    search_fields = ["name", "workspace__name", "token"]
    list_select_related = ["workspace"]
    autocomplete_fields = ["workspace", "campaigns"]
    readonly_fields = ["token", "signing_secret_set_at", "last_fired_at", "next_fire_at", "created_by", "created_at", "updated_at"]
    inlines = [TriggerRejectionInline]
    actions = ["enable", "disable", "fire_now", "regenerate_token"]

    def get_fields(self, request: HttpRequest, obj: Trigger | None = None) -> list[str]:
        return list(dict.fromkeys([*self.fields, *self.get_readonly_fields(request, obj)]))

    def get_readonly_fields(self, request: HttpRequest, obj: Trigger | None = None) -> list[str]:
        # A trigger stays in its workspace: its campaigns and its URL belong there.
        return [*self.readonly_fields, "workspace"] if obj is not None else self.readonly_fields

    def save_model(self, request: HttpRequest, obj: Trigger, form, change: bool) -> None:
        values = {name: form.cleaned_data[name] for name in services.EDITABLE_FIELDS if name in form.cleaned_data}
        campaigns = list(form.cleaned_data.get("campaigns", []))
        if change:
            # The service compares with the stored trigger to know whether to plan the next fire.
            stored = Trigger.objects.get(pk=obj.pk)
            services.trigger_update(trigger=stored, by=request.user, campaigns=campaigns, **values)
        else:
            created = services.trigger_create(
                workspace=obj.workspace, by=request.user, campaigns=campaigns, **values
            )
            obj.pk = created.pk

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        # The services set the campaigns, after checking they belong to the trigger's workspace.
        for formset in formsets:
            self.save_formset(request, form, formset, change=change)

    def delete_model(self, request: HttpRequest, obj: Trigger) -> None:
        services.trigger_delete(trigger=obj, by=request.user)

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
class TriggerEventAdmin(NoAddMixin, admin.ModelAdmin):
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

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Decision")
    def decision_pretty(self, obj: TriggerEvent) -> str:
        [event] = selectors.events_explained([obj])
        return format_html("<pre>{}</pre>", json.dumps(event.shown_decision, indent=2, ensure_ascii=False))

    @admin.display(description="Payload")
    def payload_pretty(self, obj: TriggerEvent) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.payload, indent=2, ensure_ascii=False)[:20000])

    @admin.display(description="Runs started")
    def runs(self, obj: TriggerEvent) -> str:
        return ", ".join(str(execution) for execution in obj.executions.select_related("campaign")) or "—"
