from django.contrib import admin
from djstripe.models import APIKey

from .models import BillingAccount, MeterEvent, ReceivedEvent


@admin.register(BillingAccount)
class BillingAccountAdmin(admin.ModelAdmin):
    list_display = ("workspace", "plan", "interval", "status", "current_period_end", "cancel_at_period_end", "updated_at")
    list_filter = ("plan", "status", "interval")
    search_fields = ("workspace__name", "customer__id", "subscription__id")
    raw_id_fields = ("workspace",)
    readonly_fields = [field.name for field in BillingAccount._meta.fields]


@admin.register(MeterEvent)
class MeterEventAdmin(admin.ModelAdmin):
    list_display = ("identifier", "workspace", "event_name", "value", "status", "attempts", "created_at", "sent_at")
    list_filter = ("status", "event_name")
    search_fields = ("identifier", "stripe_customer_id")
    readonly_fields = [field.name for field in MeterEvent._meta.fields]


@admin.register(ReceivedEvent)
class ReceivedEventAdmin(admin.ModelAdmin):
    list_display = ("event_id", "type", "received_at", "processed_at", "attempts", "last_error")
    list_filter = ("type", ("processed_at", admin.EmptyFieldListFilter))
    search_fields = ("event_id",)
    readonly_fields = [field.name for field in ReceivedEvent._meta.fields]


# Secret keys come from settings and are never stored (billing/stripe_api.py): no form to paste one into.
admin.site.unregister(APIKey)
