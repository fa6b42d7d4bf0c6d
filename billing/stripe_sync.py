"""dj-stripe's copy of a subscription, re-read from Stripe and written with only what changed.

dj-stripe's own sync (``Subscription.sync_from_stripe_data``) turns Stripe's answer into SDK
objects, reads every related row again and saves the subscription and each of its items whole,
changed or not: per webhook event that was most of the processing time. Here Stripe's answer is
kept as plain JSON and compared with the copy dj-stripe stores (``stripe_data``): a row whose
copy is the same is not written, a changed one is written with the columns that changed, through
dj-stripe's own mapping (``_stripe_object_to_record``), so the tables hold what dj-stripe's sync
would have written. A subscription not stored yet, or one with more items than Stripe lists
inline, goes through dj-stripe's sync as before.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from djstripe.models import Subscription, SubscriptionItem, TaxRate
from djstripe.models.base import StripeModel
from djstripe.settings import djstripe_settings

from . import stripe_api

logger = logging.getLogger(__name__)


def subscription_refresh(*, subscription_id: str, api_key: str) -> Subscription | None:
    """Re-reads a subscription from Stripe and brings dj-stripe's rows in line with it.

    Returns None when Stripe no longer has it (nothing to sync, as in dj-stripe's handler).
    Raises ProviderError when Stripe cannot be reached, so the event is tried again later.
    """
    try:
        response = stripe_api.call(
            "subscriptions.retrieve",
            lambda: stripe_api.client().raw_request(
                "get",
                f"/v1/subscriptions/{quote(subscription_id, safe='')}",
                api_key=api_key,
                stripe_version=djstripe_settings.STRIPE_API_VERSION,
            ),
        )
    except stripe_api.ProviderError as error:
        if error.status == 404:
            logger.warning("stripe subscription no longer exists", extra={"stripe_subscription": subscription_id})
            return None
        raise
    data = response.data
    stored = Subscription.objects.filter(id=data["id"]).first()
    if stored is None or (data.get("items") or {}).get("has_more"):
        # New here, or items to page through: dj-stripe's sync, which creates the subscription with
        # its customer, items and prices, and fetches the items' further pages.
        obj = stripe_api.client().deserialize(response, api_mode="V1")
        return Subscription.sync_from_stripe_data(obj, api_key=api_key)
    subscription_store(stored=stored, data=data, api_key=api_key)
    return stored


def subscription_store(*, stored: Subscription, data: dict[str, Any], api_key: str) -> None:
    """Writes what changed in a stored subscription and its items (all listed inline in ``data``)."""
    if stored.stripe_data != data:
        if data.get("default_tax_rates") != stored.stripe_data.get("default_tax_rates"):
            # dj-stripe's sync stores the tax rates a subscription names (no link is kept).
            Subscription._stripe_object_to_default_tax_rates(target_cls=TaxRate, data=data, api_key=api_key)
        # Its customer is the same for life: not read again.
        _write(stored, data, api_key=api_key, known={data["id"], stored.customer_id})
    items = (data.get("items") or {}).get("data") or []
    rows = {row.id: row for row in SubscriptionItem.objects.filter(id__in=[item["id"] for item in items])}
    for item in items:
        row = rows.get(item["id"])
        if row is None:
            SubscriptionItem.sync_from_stripe_data(item, api_key=api_key)
            continue
        if row.stripe_data == item:
            continue
        tax_rates_changed = item.get("tax_rates") != row.stripe_data.get("tax_rates")
        # The subscription was just written: not read again. The price is read (and created from
        # the item's copy when it is new), never rewritten, as dj-stripe's sync does.
        _write(row, item, api_key=api_key, known={item["id"], data["id"]})
        if tax_rates_changed:
            row.tax_rates.set(SubscriptionItem._stripe_object_to_tax_rates(target_cls=TaxRate, data=item, api_key=api_key))


def _write(row: StripeModel, data: dict[str, Any], *, api_key: str, known: set[str]) -> None:
    """Saves the columns of ``row`` that dj-stripe's mapping of ``data`` changes.

    ``known``: ids of related objects not to look up (dj-stripe leaves those columns out).
    """
    record = type(row)._stripe_object_to_record(data, current_ids=set(known), api_key=api_key)
    changed = []
    for name, value in record.items():
        field = row._meta.get_field(name)
        if field.is_relation:
            value_id = None if value is None else getattr(value, field.target_field.attname)
            if getattr(row, field.attname) != value_id:
                setattr(row, name, value)
                changed.append(name)
        elif getattr(row, name) != value:
            setattr(row, name, value)
            changed.append(name)
    if changed:
        row.save(update_fields=[*changed, "djstripe_updated"])
