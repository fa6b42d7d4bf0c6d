from django.contrib import admin
from djstripe.models import APIKey

from marketing.admin_mixins import NoAddMixin
from marketing.admin_relations import RelationsAdminMixin

from .models import BillingAccount, MeterEvent, ReceivedEvent


@admin.register(BillingAccount)
class BillingAccountAdmin(NoAddMixin, admin.ModelAdmin):
    list_display = ("workspace", "plan", "interval", "status", "current_period_end", "cancel_at_period_end", "updated_at")
    list_filter = ("plan", "status", "interval")
    search_fields = ("workspace__name", "customer__id", "subscription__id")
    raw_id_fields = ("workspace",)
    readonly_fields = [field.name for field in BillingAccount._meta.fields]


@admin.register(MeterEvent)
class MeterEventAdmin(NoAddMixin, admin.ModelAdmin):
    list_display = ("identifier", "workspace", "event_name", "value", "status", "attempts", "created_at", "sent_at")
    list_filter = ("status", "event_name")
    search_fields = ("identifier", "stripe_customer_id")
    readonly_fields = [field.name for field in MeterEvent._meta.fields]


@admin.register(ReceivedEvent)
class ReceivedEventAdmin(NoAddMixin, admin.ModelAdmin):
    list_display = ("event_id", "type", "received_at", "processed_at", "attempts", "last_error")
    list_filter = ("type", ("processed_at", admin.EmptyFieldListFilter))
    search_fields = ("event_id",)
    readonly_fields = [field.name for field in ReceivedEvent._meta.fields]


# Secret keys come from settings and are never stored (billing/stripe_api.py): no form to paste one into.
admin.site.unregister(APIKey)


class _StripeMirror(NoAddMixin):
    """dj-stripe's tables mirror objects at Stripe, written by its webhooks and `billing_setup`: a
    row added here would exist nowhere at Stripe (and its add forms answered a 500 to some
    input: the webhook endpoint's builds a URL from dj-stripe's URLconf, which is not mounted)."""


for _model, _model_admin in list(admin.site._registry.items()):
    if _model._meta.app_label == "djstripe":
        admin.site.unregister(_model)
        _admin_class = type(_model_admin)
        admin.site.register(_model, type(_admin_class.__name__, (_StripeMirror, RelationsAdminMixin, _admin_class), {}))
