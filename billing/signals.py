"""What a Stripe event changes in the product, run after dj-stripe has stored and synced it.

dj-stripe's handlers run first (its app is listed before this one): they re-read the object
from Stripe, so the workspace's plan is derived from Stripe's current state. For subscription
events that re-read and sync is ``stripe_sync.subscription_refresh`` in place of dj-stripe's
handler (same rows, written only where they changed). dj-stripe invokes these handlers once per
event id, so a duplicate delivery changes nothing.
"""

from __future__ import annotations

import logging

from django.db.models.signals import post_save, pre_save
from django.dispatch import receiver
from djstripe.event_handlers import djstripe_receiver, handle_customer_subscription_event
from djstripe.models import Event, WebhookEndpoint
from djstripe.signals import WEBHOOK_SIGNALS

from . import services, stripe_sync
from .models import WebhookSecret

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


# The events dj-stripe's subscription handler takes, each of which it answers with a re-read.
SUBSCRIPTION_EVENTS = [
    "customer.subscription.created",
    "customer.subscription.deleted",
    "customer.subscription.paused",
    "customer.subscription.pending_update_applied",
    "customer.subscription.pending_update_expired",
    "customer.subscription.resumed",
    "customer.subscription.trial_will_end",
    "customer.subscription.updated",
]
for _name in SUBSCRIPTION_EVENTS:
    WEBHOOK_SIGNALS[_name].disconnect(handle_customer_subscription_event, sender=Event)


@djstripe_receiver(SUBSCRIPTION_EVENTS)
def on_subscription_event(sender, event: Event, **kwargs) -> None:
    """dj-stripe's subscription handler, leaner: the subscription as Stripe has it now, stored.

    A deletion too is a re-read (Stripe keeps canceled subscriptions), as dj-stripe does.
    """
    subscription_id = event.data.get("object", {}).get("id")
    if subscription_id:
        stripe_sync.subscription_refresh(subscription_id=subscription_id, api_key=event.default_api_key)


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
            stripe_sync.subscription_refresh(subscription_id=subscription_id, api_key=event.default_api_key)
        reference = obj.get("client_reference_id") or (obj.get("metadata") or {}).get("workspace_id")
        workspace_id = int(reference) if reference and str(reference).isdigit() else None
    elif event.type.startswith("invoice.") and _invoice_subscription(obj):
        stripe_sync.subscription_refresh(subscription_id=_invoice_subscription(obj), api_key=event.default_api_key)
    account = services.billing_account_sync(customer_id=customer_id, workspace_id=workspace_id)
    if account is None:
        logger.info("stripe event for a customer of no workspace", extra={"event": event.id, "type": event.type})


@receiver(pre_save, sender=WebhookEndpoint)
def keep_signing_secret_out_of_djstripe(sender, instance: WebhookEndpoint, **kwargs) -> None:
    """dj-stripe would hold the signing secret in plain text (its column, and Stripe's answer to the
    create call kept whole in ``stripe_data``): both stay empty, and the secret goes to billing's
    encrypted ``WebhookSecret`` once the endpoint is saved."""
    from_data = None
    if isinstance(instance.stripe_data, dict) and "secret" in instance.stripe_data:
        # A copy: the dict may be the caller's own (sync_from_stripe_data keeps what it was given).
        from_data = instance.stripe_data["secret"]
        instance.stripe_data = {key: value for key, value in instance.stripe_data.items() if key != "secret"}
    secret = instance.secret or from_data
    if secret:
        instance._plain_signing_secret = secret
        instance.secret = ""
        update_fields = kwargs.get("update_fields")
        if update_fields is not None and from_data and "stripe_data" not in update_fields:
            # A save of some fields only would leave the copy in stripe_data behind.
            WebhookEndpoint.objects.filter(pk=instance.pk).update(stripe_data=instance.stripe_data)


@receiver(post_save, sender=WebhookEndpoint)
def store_signing_secret_encrypted(sender, instance: WebhookEndpoint, **kwargs) -> None:
    secret = instance.__dict__.pop("_plain_signing_secret", None)
    if secret:
        WebhookSecret.objects.update_or_create(endpoint=instance, defaults={"secret": secret})
        instance.secret = secret  # the object in hand still knows it, as callers expect
