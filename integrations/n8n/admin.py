from django.contrib import admin
from django.db import models
from django.http import HttpRequest

from marketing.admin_mixins import NoAddMixin

from .models import N8nConnection, N8nWorkflow


@admin.register(N8nConnection)
class N8nConnectionAdmin(NoAddMixin, admin.ModelAdmin):
    """The API key and the callback secret are never shown; workspaces set them on their own page."""

    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    list_display = ["workspace", "base_url", "has_api_key", "last_checked_at", "short_error"]
    list_select_related = ["workspace"]
    search_fields = ["workspace__name", "workspace__slug", "base_url"]
    fields = ["workspace", "base_url", "has_api_key", "n8n_credentials", "credential_base_url", "last_checked_at", "last_error"]
    readonly_fields = ["workspace", "has_api_key", "n8n_credentials", "credential_base_url", "last_checked_at", "last_error"]

    @admin.display(boolean=True, description="API key set")
    def has_api_key(self, obj: N8nConnection) -> bool:
        return bool(obj.api_key)

    @admin.display(description="Last error")
    def short_error(self, obj: N8nConnection) -> str:
        return obj.last_error[:80]


@admin.register(N8nWorkflow)
class N8nWorkflowAdmin(NoAddMixin, admin.ModelAdmin):
    list_display = ["name", "workspace", "template_key", "n8n_id", "active", "updated_at"]
    list_filter = ["active", "template_key"]
    list_select_related = ["workspace"]
    search_fields = ["name", "workspace__name", "n8n_id", "webhook_path"]
    readonly_fields = [
        "workspace", "template_key", "name", "n8n_id", "webhook_path", "active", "params", "last_error",
        "installed_at", "updated_at",
    ]  # fmt: skip
