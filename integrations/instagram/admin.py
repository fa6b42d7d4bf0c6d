from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from marketing.admin_mixins import NoAddMixin

from . import insights, services
from .models import InsightValue, InstagramAccount, PublishAttempt


@admin.register(InstagramAccount)
class InstagramAccountAdmin(NoAddMixin, admin.ModelAdmin):
    list_display = ["username", "workspace", "status", "token_expires_at", "quota_usage", "quota_total", "updated_at"]
    list_filter = ["status", "token_expires_at", "connected_at"]
    search_fields = ["username", "ig_user_id", "page_name", "page_id", "workspace__name"]
    list_select_related = ["workspace"]
    # The token is never shown, not even encrypted.
    exclude = ["access_token"]
    readonly_fields = [
        "workspace",
        "ig_user_id",
        "profile_picture_url",
        "page_id",
        "page_name",
        "token_expires_at",
        "token_refreshed_at",
        "quota_total",
        "quota_usage",
        "quota_checked_at",
        "connected_at",
        "updated_at",
    ]
    actions = ["refresh_token", "pull_insights"]

    @admin.action(description="Refresh the access token now")
    def refresh_token(self, request: HttpRequest, queryset: QuerySet[InstagramAccount]) -> None:
        refreshed = sum(services.token_refresh(account=account) for account in queryset)
        self.message_user(request, f"Refreshed {refreshed} of {queryset.count()} tokens.", messages.INFO)

    @admin.action(description="Pull account insights now")
    def pull_insights(self, request: HttpRequest, queryset: QuerySet[InstagramAccount]) -> None:
        pulled = sum(insights.account_insights_pull(account=account) for account in queryset)
        self.message_user(request, f"Pulled insights for {pulled} of {queryset.count()} accounts.", messages.INFO)


@admin.register(PublishAttempt)
class PublishAttemptAdmin(NoAddMixin, admin.ModelAdmin):
    list_display = ["id", "account", "execution", "status", "container_id", "media_id", "error_code", "started_at"]
    list_filter = ["status", "error_code", "started_at"]
    search_fields = ["container_id", "media_id", "error_message", "account__username", "execution__uuid"]
    list_select_related = ["account", "execution__campaign"]
    readonly_fields = [field.name for field in PublishAttempt._meta.fields]
    date_hierarchy = "started_at"


@admin.register(InsightValue)
class InsightValueAdmin(NoAddMixin, admin.ModelAdmin):
    list_display = ["day", "account", "object_type", "object_id", "metric", "value", "updated_at"]
    list_filter = ["object_type", "metric", "day"]
    search_fields = ["object_id", "account__username"]
    list_select_related = ["account"]
    readonly_fields = [field.name for field in InsightValue._meta.fields]
    date_hierarchy = "day"
