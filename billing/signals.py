"""What a Stripe event changes in the product, run after dj-stripe has stored and synced it.

dj-stripe's handlers run first (its app is listed before this one): they re-read the object
from Stripe, so the workspace's plan is derived from Stripe's current state. dj-stripe invokes
these handlers once per event id, so a duplicate delivery changes nothing.
"""

from __future__ import annotations

import logging

from djstripe.event_handlers import djstripe_receiver
from djstripe.models import Event, Subscription

from . import services

logger = logging.getLogger(__name__)

HANDLED = [
    "checkout.session.completed",
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.resumed",
    "invoice.paid",
    "invoice.payment_failed",
    "invoice.finalized",
]


def _customer_id(obj: dict) -> str | None:
    customer = obj.get("customer")
    return customer.get("id") if isinstance(customer, dict) else customer


def _invoice_subscription(invoice: dict) -> str | None:
    # Since API version 2025-03-31 an invoice names its subscription under parent.subscription_details.
    details = (invoice.get("parent") or {}).get("subscription_details") or {}
    return invoice.get("subscription") or details.get("subscription")


@djstripe_receiver(HANDLED)
def on_billing_event(sender, event: Event, **kwargs) -> None:
    obj = event.data.get("object", {})
    customer_id = _customer_id(obj)
    if not customer_id:
        return
    workspace_id = None
    if event.type == "checkout.session.completed":
        # The subscription may be announced after the session; read it now so the plan applies at once.
        subscription_id = obj.get("subscription")
        if subscription_id:
            data = Subscription(id=subscription_id).api_retrieve(api_key=event.default_api_key)
            Subscription.sync_from_stripe_data(data, api_key=event.default_api_key)
        reference = obj.get("client_reference_id") or (obj.get("metadata") or {}).get("workspace_id")
        workspace_id = int(reference) if reference and str(reference).isdigit() else None
    elif event.type.startswith("invoice.") and _invoice_subscription(obj):
        data = Subscription(id=_invoice_subscription(obj)).api_retrieve(api_key=event.default_api_key)
        Subscription.sync_from_stripe_data(data, api_key=event.default_api_key)
    account = services.billing_account_sync(customer_id=customer_id, workspace_id=workspace_id)
    if account is None:
        logger.info("stripe event for a customer of no workspace", extra={"event": event.id, "type": event.type})
