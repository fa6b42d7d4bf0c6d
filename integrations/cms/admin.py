from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from marketing.admin_mixins import NoAddMixin

from . import services
from .models import ContentItem, ContentSource


@admin.register(ContentSource)
class ContentSourceAdmin(NoAddMixin, admin.ModelAdmin):
    """Read-mostly: workspaces connect and edit sources on their own pages; staff can check or pause them.
    The application password is never shown."""

    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    list_display = ["name", "workspace", "kind", "state", "last_polled_at", "next_poll_at", "failures", "short_error"]
    list_filter = ["kind", "state"]
    list_select_related = ["workspace"]
    search_fields = ["name", "url", "workspace__name", "workspace__slug"]
    fields = [
        "workspace", "name", "kind", "url", "wp_username", "has_app_password", "poll_interval", "trigger",
        "create_drafts", "publish_automatically", "template_campaign", "state", "last_error", "failures",
        "last_polled_at", "last_success_at", "next_poll_at", "etag", "last_modified", "site_title", "created_by",
        "created_at",
    ]  # fmt: skip
    readonly_fields = fields
    actions = ["check_now", "pause", "resume"]

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    @admin.display(boolean=True, description="Application password set")
    def has_app_password(self, obj: ContentSource) -> bool:
        return bool(obj.wp_app_password)

    @admin.display(description="Last error")
    def short_error(self, obj: ContentSource) -> str:
        return obj.last_error[:80]

    @admin.action(description="Check the selected sources now")
    def check_now(self, request, queryset) -> None:
        results = [services.source_poll(source_id=source.pk) for source in queryset]
        failed = sum(1 for result in results if result is not None and not result.ok)
        self.message_user(request, f"Checked {len(results)} source(s); {failed} failed.")

    @admin.action(description="Pause the selected sources")
    def pause(self, request, queryset) -> None:
        for source in queryset:
            services.source_set_paused(source=source, paused=True)

    @admin.action(description="Resume the selected sources")
    def resume(self, request, queryset) -> None:
        for source in queryset:
            services.source_set_paused(source=source, paused=False)


@admin.register(ContentItem)
class ContentItemAdmin(NoAddMixin, admin.ModelAdmin):
    list_display = ["title", "source", "workspace", "status", "published_at", "imported_at", "campaign"]
    list_filter = ["status", "source__kind"]
    list_select_related = ["source", "workspace", "campaign"]
    search_fields = ["title", "guid", "link", "source__name", "workspace__name"]
    readonly_fields = [field.name for field in ContentItem._meta.fields]

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False
