"""Stripe's webhook deliveries: accepted fast by the endpoint, processed by a task.

The endpoint verifies the signature (nothing is stored before that), stores the event once per
Stripe event id and answers 200; the task hands it to dj-stripe (which re-reads the object from
Stripe and runs the handlers in ``billing/signals.py``) and marks it processed in the same
transaction. The task is sent through the outbox, so with the broker down the event waits in
``ReceivedEvent`` and in the outbox; beat also queues again whatever still waits past its time,
so a lost task or a failed attempt (Stripe down) delays an event but never loses it.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from uuid import UUID

import stripe
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from djstripe.models import Event, WebhookEndpoint

from marketing import outbox

from . import stripe_api
from .models import BillingAccount, ReceivedEvent
from .tasks import process_stripe_event

logger = logging.getLogger(__name__)

# How long a queued task may take before beat queues the event again.
REQUEUE_AFTER = timedelta(minutes=2)
# After a failed attempt the next waits 1, 2, 4 … minutes, at most an hour.
MAX_BACKOFF = timedelta(hours=1)
# Processed events are kept this long (Stripe retries a delivery for three days), then deleted.
KEEP_PROCESSED = timedelta(days=30)


class Refused(Exception):
    """The delivery is not one Stripe signed for this endpoint (the endpoint answers 400)."""


def event_accept(*, endpoint_uuid: UUID, body: bytes, signature: str) -> ReceivedEvent:
    """Verifies a delivery and stores its event once; queues the processing on commit.

    Raises ``WebhookEndpoint.DoesNotExist`` for an unknown endpoint and ``Refused`` for a bad or
    missing signature or a body that is no event, before anything is written.
    """
    # The signing secret is kept encrypted beside dj-stripe's endpoint (billing.WebhookSecret).
    endpoint = (
        WebhookEndpoint.objects.filter(djstripe_uuid=endpoint_uuid)
        .values_list("djstripe_tolerance", "billing_secret__secret")
        .first()
    )
    if endpoint is None:
        raise WebhookEndpoint.DoesNotExist
    tolerance, secret = endpoint
    try:
        payload = body.decode("utf-8")
        if not signature or not secret:
            raise Refused("missing signature")
        stripe.WebhookSignature.verify_header(payload, signature, secret, tolerance)
        data = json.loads(payload)
    except (UnicodeDecodeError, ValueError, stripe.SignatureVerificationError) as error:
        raise Refused(type(error).__name__) from None
    if not isinstance(data, dict) or not isinstance(data.get("id"), str) or not isinstance(data.get("type"), str):
        raise Refused("not an event")
    try:
        with transaction.atomic():
            received = ReceivedEvent.objects.create(
                event_id=data["id"],
                type=data["type"][:255],
                livemode=bool(data.get("livemode")),
                body=payload,
                next_attempt_at=timezone.now() + REQUEUE_AFTER,
            )
            outbox.send_on_commit(process_stripe_event, received.pk)
    except IntegrityError:
        # A duplicate delivery. Of a processed event it changes nothing; one still waiting is
        # queued again (the task processes an event once, whoever gets there first).
        received = ReceivedEvent.objects.get(event_id=data["id"])
        if received.processed_at is None:
            outbox.send(process_stripe_event, received.pk)
    return received


def event_process(*, received_id: int) -> bool:
    """Processes one accepted event unless done already; True when it was processed now.

    A failure rolls its work back, is recorded on the row and tried again later by beat.
    """
    try:
        with transaction.atomic():
            received = ReceivedEvent.objects.select_for_update().filter(pk=received_id, processed_at__isnull=True).first()
            if received is None:
                return False
            data = json.loads(received.body)
            customer_id = _customer_id((data.get("data") or {}).get("object") or {})
            if customer_id:
                # One customer's events one at a time: each re-reads the subscription from Stripe,
                # so whichever runs last writes Stripe's latest state, whatever the delivery order.
                list(BillingAccount.objects.select_for_update().filter(customer_id=customer_id).values_list("pk"))
            with stripe_api.accounts_remembered():
                _event_store(data)
            now = timezone.now()
            ReceivedEvent.objects.filter(pk=received.pk).update(
                processed_at=now, last_attempt_at=now, attempts=F("attempts") + 1, last_error=""
            )
    except Exception as error:
        attempts = ReceivedEvent.objects.filter(pk=received_id).values_list("attempts", flat=True).first() or 0
        now = timezone.now()
        backoff = min(timedelta(minutes=2**attempts), MAX_BACKOFF)
        ReceivedEvent.objects.filter(pk=received_id, processed_at__isnull=True).update(
            attempts=F("attempts") + 1,
            last_attempt_at=now,
            next_attempt_at=now + backoff,
            # Stripe's error messages never hold the secret key.
            last_error=f"{type(error).__name__}: {error}"[:300],
        )
        logger.warning(
            "stripe event processing failed; it will be tried again",
            extra={"received_event": received_id, "error": type(error).__name__, "retry_in_s": int(backoff.total_seconds())},
        )
        return False
    return True


def _event_store(data: dict) -> None:
    """dj-stripe's ``Event.process``: stores the event and runs its handlers, unless dj-stripe has
    it already (then nothing runs). Without its second read of the event and its savepoint: the
    caller holds the event's ReceivedEvent row in its own transaction, so no other worker stores
    this event meanwhile, and a failure rolls the whole attempt back."""
    if Event.objects.filter(id=data["id"]).exists():
        return
    api_key = settings.STRIPE_SECRET_KEY
    event = Event(**Event._stripe_object_to_record(data, api_key=api_key))
    event._attach_objects_hook(Event, data, api_key=api_key)
    event.save()
    event.invoke_webhook_handlers()


def events_requeue(*, limit: int = 200) -> int:
    """Queues again the accepted events still waiting past their time; returns how many."""
    now = timezone.now()
    with transaction.atomic():
        due = ReceivedEvent.objects.filter(processed_at__isnull=True, next_attempt_at__lte=now).order_by("next_attempt_at")
        ids = list(due.values_list("pk", flat=True)[:limit])
        if not ids:
            return 0
        ReceivedEvent.objects.filter(pk__in=ids).update(next_attempt_at=now + REQUEUE_AFTER)
        outbox.send_many(process_stripe_event, [(pk,) for pk in ids])
    logger.info("stripe events queued again", extra={"count": len(ids)})
    return len(ids)


def events_prune() -> int:
    """Deletes processed events older than KEEP_PROCESSED; waiting ones are never deleted."""
    deleted, _ = ReceivedEvent.objects.filter(processed_at__lt=timezone.now() - KEEP_PROCESSED).delete()
    return deleted


def _customer_id(obj: dict) -> str | None:
    if obj.get("object") == "customer":
        return obj.get("id")
    customer = obj.get("customer")
    return customer.get("id") if isinstance(customer, dict) else customer
