import json

from django.contrib import admin
from django.utils.html import format_html

from marketing.admin_mixins import NoAddMixin

from . import services
from .models import Alert, AlertNotification, AlertRule, ErrorGroup, ErrorOccurrence, GroupStatus


@admin.register(ErrorGroup)
class ErrorGroupAdmin(NoAddMixin, admin.ModelAdmin):
    list_display = ["title", "category", "status", "times_seen", "first_seen", "last_seen", "regressed_at"]
    list_filter = ["status", "category", "level"]
    search_fields = ["title", "culprit", "fingerprint"]
    readonly_fields = [
        "fingerprint", "category", "level", "title", "culprit", "first_seen", "last_seen", "times_seen",
        "resolved_at", "regressed_at", "sample_pretty",
    ]
    exclude = ["sample", "workspaces"]
    actions = ["resolve", "ignore", "reopen"]

    class Media:
        css = {"all": ["css/admin.css"]}

    @admin.display(description="Sample (scrubbed)")
    def sample_pretty(self, obj: ErrorGroup) -> str:
        return format_html('<pre class="pre-wrap">{}</pre>', json.dumps(obj.sample, indent=2, default=str))

    def _set(self, request, queryset, status: str) -> None:
        for group in queryset:
            services.error_group_set_status(group=group, status=status)
        self.message_user(request, f"{queryset.count()} group(s) now {status}.")

    @admin.action(description="Resolve selected groups")
    def resolve(self, request, queryset):
        self._set(request, queryset, GroupStatus.RESOLVED)

    @admin.action(description="Ignore selected groups")
    def ignore(self, request, queryset):
        self._set(request, queryset, GroupStatus.IGNORED)

    @admin.action(description="Reopen selected groups")
    def reopen(self, request, queryset):
        self._set(request, queryset, GroupStatus.OPEN)


@admin.register(ErrorOccurrence)
class ErrorOccurrenceAdmin(NoAddMixin, admin.ModelAdmin):
    list_display = ["group", "at", "workspace"]
    list_select_related = ["group", "workspace"]
    raw_id_fields = ["group", "workspace"]
    date_hierarchy = "at"


@admin.register(AlertRule)
class AlertRuleAdmin(admin.ModelAdmin):
    list_display = ["name", "kind", "enabled", "threshold", "window_minutes", "remind_after_minutes", "notify_email", "notify_webhook"]
    list_editable = ["enabled", "threshold", "window_minutes", "remind_after_minutes"]
    list_filter = ["enabled", "kind"]
    readonly_fields = ["meaning"]

    @admin.display(description="What the numbers mean")
    def meaning(self, obj: AlertRule) -> str:
        from .alerts import MEANING

        return MEANING.get(obj.kind, "")


class AlertNotificationInline(admin.TabularInline):
    model = AlertNotification
    extra = 0
    can_delete = False
    readonly_fields = ["kind", "channel", "at", "ok", "detail"]


@admin.register(Alert)
class AlertAdmin(NoAddMixin, admin.ModelAdmin):
    list_display = ["rule", "key", "state", "started_at", "resolved_at", "reminders"]
    list_filter = ["state", "rule"]
    readonly_fields = ["rule", "key", "state", "summary", "value", "started_at", "last_notified_at", "reminders", "resolved_at"]
    inlines = [AlertNotificationInline]
