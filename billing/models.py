from django.db import models
from djstripe.fields import StripeForeignKey

from integrations.crypto import EncryptedTextField
from marketing.models import Workspace

from .plans import FREE


class SubscriptionStatus(models.TextChoices):
    """Stripe's subscription statuses, and none for a workspace that never subscribed."""

    NONE = "", "No subscription"
    INCOMPLETE = "incomplete", "Incomplete"
    INCOMPLETE_EXPIRED = "incomplete_expired", "Incomplete, expired"
    TRIALING = "trialing", "Trial"
    ACTIVE = "active", "Active"
    PAST_DUE = "past_due", "Past due"
    CANCELED = "canceled", "Canceled"
    UNPAID = "unpaid", "Unpaid"
    PAUSED = "paused", "Paused"


# Statuses in which the subscription's plan applies in full.
PAYING_STATUSES = frozenset({SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE})
# Statuses after which the plan holds only for the grace period.
LAPSED_STATUSES = frozenset({SubscriptionStatus.CANCELED, SubscriptionStatus.UNPAID, SubscriptionStatus.PAUSED})


class BillingAccount(models.Model):
    """A workspace as Stripe's customer, and its plan as the webhooks last left it.

    dj-stripe's tables hold Stripe's objects; this row holds what the product needs from them,
    so that "what may this workspace do" is one row read (and cached).
    """

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, related_name="billing")
    customer = StripeForeignKey(
        "djstripe.Customer", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    subscription = StripeForeignKey(
        "djstripe.Subscription", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    plan = models.CharField(max_length=32, default=FREE.key)
    interval = models.CharField(max_length=8, blank=True)
    status = models.CharField(max_length=24, choices=SubscriptionStatus.choices, blank=True)
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    # When the subscription stopped paying (canceled, unpaid): the grace period counts from here.
    lapsed_at = models.DateTimeField(null=True, blank=True)
    # The past-due email goes once per stretch of being past due.
    past_due_notified_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Billing of {self.workspace}"


class MeterEventStatus(models.TextChoices):
    PENDING = "pending", "Waiting to be sent"
    SENT = "sent", "Acknowledged by Stripe"
    FAILED = "failed", "Refused by Stripe"


class MeterEvent(models.Model):
    """A usage event for Stripe's Billing Meter, written in the same transaction as the usage.

    A task sends the waiting ones; Stripe de-duplicates on ``identifier``, so sending one twice
    after a crash between Stripe's answer and our write counts it once.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="+")
    identifier = models.CharField(max_length=100, unique=True)
    event_name = models.CharField(max_length=100)
    stripe_customer_id = models.CharField(max_length=255)
    value = models.PositiveIntegerField(default=1)
    occurred_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=MeterEventStatus.choices, default=MeterEventStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(
                fields=["created_at"], name="billing_meter_pending", condition=models.Q(status="pending")
            )
        ]

    def __str__(self) -> str:
        return f"{self.event_name} {self.identifier} ({self.status})"


class ReceivedEvent(models.Model):
    """A Stripe event the webhook endpoint accepted (signature verified), once per Stripe event id.

    The endpoint only stores it and answers; a task hands it to dj-stripe and our handlers, so a
    slow Stripe re-read never holds Stripe's delivery. A row waits here until it is processed:
    the broker down, a lost task or a failed attempt only delays it (beat queues it again).
    """

    event_id = models.CharField(max_length=255, unique=True)
    type = models.CharField(max_length=255)
    livemode = models.BooleanField(default=False)
    # The body exactly as Stripe signed it.
    body = models.TextField()
    received_at = models.DateTimeField(auto_now_add=True)
    processed_at = models.DateTimeField(null=True, blank=True)
    # When beat queues it again if it is still waiting: set past the time a queued task should
    # take, and pushed further back after each failed attempt.
    next_attempt_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["received_at", "id"]
        indexes = [
            models.Index(
                fields=["next_attempt_at"], name="billing_event_waiting", condition=models.Q(processed_at__isnull=True)
            )
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class WebhookSecret(models.Model):
    """The signing secret of a dj-stripe webhook endpoint, encrypted at rest.

    dj-stripe keeps it in plain text on ``WebhookEndpoint.secret``; a receiver in
    ``billing/signals.py`` moves whatever is saved there into this row and leaves that column empty.
    """

    endpoint = models.OneToOneField("djstripe.WebhookEndpoint", on_delete=models.CASCADE, related_name="billing_secret")
    secret = EncryptedTextField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Signing secret of {self.endpoint_id}"
