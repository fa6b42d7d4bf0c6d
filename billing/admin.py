from django.contrib import admin
from djstripe.admin.admin import WebhookEndpointAdmin as DjstripeWebhookEndpointAdmin
from djstripe.models import APIKey, WebhookEndpoint

from .models import BillingAccount, MeterEvent, ReceivedEvent


@admin.register(BillingAccount)
class BillingAccountAdmin(admin.ModelAdmin):
    list_display = ("workspace", "plan", "interval", "status", "current_period_end", "cancel_at_period_end", "updated_at")
    list_filter = ("plan", "status", "interval")
    search_fields = ("workspace__name", "customer__id", "subscription__id")
    raw_id_fields = ("workspace",)
    readonly_fields = [field.name for field in BillingAccount._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(MeterEvent)
class MeterEventAdmin(admin.ModelAdmin):
    list_display = ("identifier", "workspace", "event_name", "value", "status", "attempts", "created_at", "sent_at")
    list_filter = ("status", "event_name")
    search_fields = ("identifier", "stripe_customer_id")
    readonly_fields = [field.name for field in MeterEvent._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(ReceivedEvent)
class ReceivedEventAdmin(admin.ModelAdmin):
    list_display = ("event_id", "type", "received_at", "processed_at", "attempts", "last_error")
    list_filter = ("type", ("processed_at", admin.EmptyFieldListFilter))
    search_fields = ("event_id",)
    readonly_fields = [field.name for field in ReceivedEvent._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False


# Secret keys come from settings and are never stored (billing/stripe_api.py): no form to paste one into.
admin.site.unregister(APIKey)


# The endpoint is made by `manage.py billing_setup`, which keeps its signing secret encrypted
# (billing/signals.py). dj-stripe's own add form builds the URL from its URLconf, which this
# project does not mount, so it could only fail.
admin.site.unregister(WebhookEndpoint)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(DjstripeWebhookEndpointAdmin):
    def has_add_permission(self, request) -> bool:
        return False
