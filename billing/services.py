"""Writes about billing, and the one limit check every place that creates a limited thing calls."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import stripe
from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from djstripe.models import Customer, Subscription

from integrations.http import ProviderError
from marketing import outbox
from marketing.models import Membership, Role, Workspace

from . import stripe_api
from .models import (
    LAPSED_STATUSES,
    PAYING_STATUSES,
    BillingAccount,
    MeterEvent,
    MeterEventStatus,
    SubscriptionStatus,
)
from .plans import (
    FREE,
    INTERVALS,
    LIMIT_LABELS,
    METER_EVENT_NAME,
    PLANS,
    Limit,
    Plan,
    metered_lookup_key,
    plan_for_lookup_key,
)
from .selectors import Allowance, billing_account_forget, workspace_allowance, workspace_usage

logger = logging.getLogger(__name__)


class LimitReached(ValidationError):
    """The workspace's plan does not allow one more of something. The API answers it with 402."""

    def __init__(self, *, limit: str, allowance: Allowance, used: int, allowed: int) -> None:
        self.limit = limit
        self.plan = allowance.plan
        self.used = used
        self.allowed = allowed
        self.upgrade_url = reverse("billing_pricing")
        label = LIMIT_LABELS[limit].split(",")[0].split(" (")[0].lower()
        super().__init__(
            f"The {self.plan.name} plan allows {allowed} {label}, and this workspace has {used}. "
            f"Upgrade the plan to add more: {self.upgrade_url}",
            code="plan_limit",
        )

    def as_json(self) -> dict:
        return {
            "detail": self.messages[0],
            "code": "plan_limit",
            "limit": self.limit,
            "plan": self.plan.key,
            "allowed": self.allowed,
            "used": self.used,
            "upgrade_url": self.upgrade_url,
        }


def limit_check(*, workspace: Workspace | int, limit: str, adding: int = 1) -> None:
    """Raises LimitReached unless the workspace may add ``adding`` more of ``limit`` now.

    Billing off, an unlimited plan, or a limit a paid plan meters: no query. Otherwise one count.
    Things already over a lowered limit stay; only new ones are refused.
    """
    allowance = workspace_allowance(workspace=workspace)
    allowed = allowance.limit(limit)
    if allowed is None or allowance.is_metered(limit):
        return
    used = workspace_usage(workspace=workspace, allowance=allowance, only=limit)[limit]
    if used + adding > allowed:
        raise LimitReached(limit=limit, allowance=allowance, used=used, allowed=allowed)


def run_refusal(*, workspace_id: int) -> str | None:
    """Why a planned run that is already queued must be skipped, or None when the plan allows it.

    Scheduled runs are not refused at the door like a click on "Run now": the plan is checked
    when the run starts, and a run over the allowance is recorded as skipped with this reason.
    """
    try:
        limit_check(workspace=workspace_id, limit=Limit.RUNS_PER_MONTH, adding=0)
    except LimitReached as refusal:
        if refusal.used > refusal.allowed:
            return f"Skipped: {refusal.messages[0]}"
    return None


class BillingNotConfigured(ValidationError):
    def __init__(self) -> None:
        super().__init__("Billing is not configured on this installation.", code="billing_off")


def _require_owner(membership: Membership) -> None:
    if membership.role != Role.OWNER:
        raise PermissionDenied("Only the workspace's owners manage its billing.")


def _account_locked(workspace: Workspace) -> BillingAccount:
    BillingAccount.objects.get_or_create(workspace=workspace)
    return BillingAccount.objects.select_for_update().get(workspace=workspace)


def customer_ensure(*, workspace: Workspace, email: str) -> str:
    """The workspace's Stripe customer id, creating the customer at the first Checkout."""
    with transaction.atomic():
        account = _account_locked(workspace)
        if account.customer_id:
            return account.customer_id
        data = stripe_api.call(
            "customers.create",
            lambda: stripe.Customer.create(
                email=email,
                name=workspace.name,
                metadata={"workspace_id": str(workspace.pk)},
                # A double click or a retried request reuses the customer Stripe made the first time.
                idempotency_key=f"workspace-{workspace.pk}-customer",
            ),
        )
        customer = Customer.sync_from_stripe_data(data, api_key=settings.STRIPE_SECRET_KEY)
        account.customer = customer
        account.save(update_fields=["customer", "updated_at"])
    billing_account_forget(workspace.pk)
    return customer.id


def _price_ids(lookup_keys: list[str]) -> dict[str, str]:
    prices = stripe_api.call(
        "prices.list", lambda: stripe.Price.list(lookup_keys=lookup_keys, active=True, limit=len(lookup_keys))
    )
    found = {price["lookup_key"]: price["id"] for price in prices["data"]}
    missing = sorted(set(lookup_keys) - set(found))
    if missing:
        raise ValidationError(
            f"Stripe has no price for {', '.join(missing)}. Staff: run `manage.py billing_setup`.", code="no_price"
        )
    return found


def checkout_start(*, workspace: Workspace, membership: Membership, plan_key: str, interval: str) -> str:
    """Opens a Stripe Checkout session for a paid plan and returns the URL to send the owner to."""
    if not stripe_api.enabled():
        raise BillingNotConfigured()
    _require_owner(membership)
    plan = PLANS.get(plan_key)
    if plan is None or plan.is_free or interval not in INTERVALS:
        raise ValidationError("Pick one of the plans on the pricing page.")
    allowance = workspace_allowance(workspace=workspace)
    if allowance.has_subscription and allowance.status in PAYING_STATUSES:
        raise ValidationError(
            "This workspace already has a subscription. Change plans in the billing portal instead.",
            code="already_subscribed",
        )
    customer_id = customer_ensure(workspace=workspace, email=membership.user.email)
    flat, metered = plan.lookup_key(interval), metered_lookup_key(interval)
    prices = _price_ids([flat, metered])
    subscription_data: dict = {"metadata": {"workspace_id": str(workspace.pk)}}
    # The trial is for a workspace's first subscription only.
    if settings.BILLING_TRIAL_DAYS and not allowance.has_subscription:
        subscription_data["trial_period_days"] = settings.BILLING_TRIAL_DAYS
    base = settings.PUBLIC_BASE_URL
    session = stripe_api.call(
        "checkout.sessions.create",
        lambda: stripe.checkout.Session.create(
            mode="subscription",
            customer=customer_id,
            client_reference_id=str(workspace.pk),
            line_items=[{"price": prices[flat], "quantity": 1}, {"price": prices[metered]}],
            subscription_data=subscription_data,
            allow_promotion_codes=True,
            metadata={"workspace_id": str(workspace.pk), "plan": plan.key, "interval": interval},
            success_url=base + reverse("billing_success") + "?session_id={CHECKOUT_SESSION_ID}",
            cancel_url=base + reverse("billing_cancel"),
        ),
    )
    logger.info(
        "checkout started", extra={"workspace_id": workspace.pk, "plan": plan.key, "interval": interval}
    )
    return session["url"]


def portal_start(*, workspace: Workspace, membership: Membership) -> str:
    """A Customer Portal session (payment methods, plan changes, cancellation, invoices)."""
    if not stripe_api.enabled():
        raise BillingNotConfigured()
    _require_owner(membership)
    account = BillingAccount.objects.filter(workspace=workspace).first()
    if account is None or not account.customer_id:
        raise ValidationError("This workspace has no subscription yet. Pick a plan first.")
    session = stripe_api.call(
        "billing_portal.sessions.create",
        lambda: stripe.billing_portal.Session.create(
            customer=account.customer_id, return_url=settings.PUBLIC_BASE_URL + reverse("billing")
        ),
    )
    return session["url"]


# Subscriptions a customer may have at once, best first: the one that counts is the liveliest.
_STATUS_RANK = {
    SubscriptionStatus.ACTIVE: 0,
    SubscriptionStatus.TRIALING: 0,
    SubscriptionStatus.PAST_DUE: 1,
    SubscriptionStatus.UNPAID: 2,
    SubscriptionStatus.PAUSED: 2,
    SubscriptionStatus.INCOMPLETE: 3,
    SubscriptionStatus.CANCELED: 4,
    SubscriptionStatus.INCOMPLETE_EXPIRED: 5,
}


def _timestamp(value) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if isinstance(value, int | float) else None


def _subscription_plan(data: dict) -> tuple[Plan, str, datetime | None, datetime | None]:
    """The plan, interval and current period of a subscription's Stripe data.

    Since API version 2025-03-31 the period lives on each item, not on the subscription.
    """
    for item in (data.get("items") or {}).get("data", []):
        found = plan_for_lookup_key((item.get("price") or {}).get("lookup_key"))
        if found:
            start = _timestamp(item.get("current_period_start") or data.get("current_period_start"))
            end = _timestamp(item.get("current_period_end") or data.get("current_period_end"))
            return found[0], found[1], start, end
    return FREE, "", None, None


def billing_account_sync(*, customer_id: str, workspace_id: int | None = None) -> BillingAccount | None:
    """Derives the workspace's plan from dj-stripe's copy of its subscriptions.

    The webhook handlers call it after dj-stripe has re-read the object from Stripe, so an old
    event delivered late finds the current state, not the one it was sent with. Returns None
    for a customer that belongs to no workspace.
    """
    # No savepoint: inside a webhook's transaction a failure here fails the whole event anyway.
    with transaction.atomic(savepoint=False):
        if workspace_id is not None:
            account, _ = BillingAccount.objects.get_or_create(workspace_id=workspace_id)
            if not account.customer_id:
                BillingAccount.objects.filter(pk=account.pk).update(customer_id=customer_id)
        account = BillingAccount.objects.select_for_update().filter(customer_id=customer_id).first()
        if account is None:
            logger.info("stripe customer of no workspace", extra={"stripe_customer": customer_id})
            return None
        subscriptions = list(Subscription.objects.filter(customer_id=customer_id))
        subscriptions.sort(key=lambda s: (_STATUS_RANK.get(s.stripe_data.get("status"), 9), -(s.stripe_data.get("created") or 0)))
        before = (account.status, account.plan)
        if subscriptions:
            current = subscriptions[0]
            data = current.stripe_data
            plan, interval, start, end = _subscription_plan(data)
            account.subscription = current
            account.status = data.get("status") or ""
            account.plan, account.interval = plan.key, interval
            account.current_period_start, account.current_period_end = start, end
            account.cancel_at_period_end = bool(data.get("cancel_at_period_end"))
        else:
            account.subscription = None
            account.status, account.plan, account.interval = SubscriptionStatus.NONE, FREE.key, ""
            account.current_period_start = account.current_period_end = None
            account.cancel_at_period_end = False
        if account.status in LAPSED_STATUSES:
            if account.lapsed_at is None:
                data = subscriptions[0].stripe_data
                account.lapsed_at = _timestamp(data.get("ended_at") or data.get("canceled_at")) or timezone.now()
        else:
            account.lapsed_at = None
        notify_past_due = account.status == SubscriptionStatus.PAST_DUE and account.past_due_notified_at is None
        if notify_past_due:
            account.past_due_notified_at = timezone.now()
        elif account.status != SubscriptionStatus.PAST_DUE:
            account.past_due_notified_at = None
        account.save()
        workspace_pk = account.workspace_id
        if notify_past_due:
            from .tasks import send_past_due_email

            outbox.send_on_commit(send_past_due_email, workspace_pk)
        transaction.on_commit(lambda: billing_account_forget(workspace_pk))
    billing_account_forget(workspace_pk)
    if before != (account.status, account.plan):
        logger.info(
            "workspace plan changed",
            extra={"workspace_id": workspace_pk, "plan": account.plan, "status": account.status},
        )
    return account


def past_due_email_send(*, workspace_id: int) -> int:
    """Tells the owners once that a payment failed; returns how many were written to."""
    workspace = Workspace.objects.filter(pk=workspace_id).first()
    if workspace is None:
        return 0
    owners = [m.user.email for m in workspace.memberships.select_related("user").filter(role=Role.OWNER)]
    if not owners:
        return 0
    url = settings.PUBLIC_BASE_URL + reverse("billing")
    send_mail(
        subject=f"[Marketing] Payment failed for {workspace.name}",
        message=(
            f"Stripe could not take the payment for {workspace.name}'s subscription.\n\n"
            f"Update the payment method on the billing page before Stripe gives up: {url}\n"
        ),
        from_email=None,
        recipient_list=owners,
    )
    return len(owners)


def ai_image_record_usage(*, generation) -> MeterEvent | None:
    """Queues a meter event for an AI image beyond the plan's allowance, in the caller's transaction.

    The image's id is the event's identifier, so Stripe counts it once however often it is sent.
    """
    workspace_id = generation.campaign.workspace_id
    allowance = workspace_allowance(workspace=workspace_id)
    allowed = allowance.limit(Limit.AI_IMAGES_PER_MONTH)
    if allowed is None or not allowance.is_metered(Limit.AI_IMAGES_PER_MONTH):
        return None
    used = workspace_usage(workspace=workspace_id, allowance=allowance, only=Limit.AI_IMAGES_PER_MONTH)
    if used[Limit.AI_IMAGES_PER_MONTH] <= allowed:
        return None
    customer_id = BillingAccount.objects.filter(workspace_id=workspace_id).values_list("customer_id", flat=True).first()
    event, created = MeterEvent.objects.get_or_create(
        identifier=f"ai_image_{generation.image_id or generation.pk}",
        defaults={
            "workspace_id": workspace_id,
            "event_name": METER_EVENT_NAME,
            "stripe_customer_id": customer_id,
            "value": 1,
            "occurred_at": generation.finished_at or timezone.now(),
        },
    )
    if created:
        from .tasks import send_meter_events

        transaction.on_commit(send_meter_events.delay)
    return event


def meter_events_send(*, batch: int = 100) -> int:
    """Sends waiting meter events to Stripe, oldest first; returns how many Stripe acknowledged.

    Stops at the first transient failure (Stripe down, the breaker open) and leaves the rest
    waiting for the next run. An event is marked sent only after Stripe answers, so a crash in
    between resends it, and Stripe drops the copy by its identifier.
    """
    sent = 0
    for event in MeterEvent.objects.filter(status=MeterEventStatus.PENDING).order_by("created_at", "id")[:batch]:
        MeterEvent.objects.filter(pk=event.pk).update(attempts=F("attempts") + 1)
        try:
            stripe_api.call(
                "billing.meter_events.create",
                lambda event=event: stripe.billing.MeterEvent.create(
                    event_name=event.event_name,
                    identifier=event.identifier,
                    timestamp=int(event.occurred_at.timestamp()),
                    payload={"stripe_customer_id": event.stripe_customer_id, "value": str(event.value)},
                ),
            )
        except ProviderError as error:
            if error.retryable:
                MeterEvent.objects.filter(pk=event.pk).update(last_error=error.message[:300])
                break
            MeterEvent.objects.filter(pk=event.pk).update(status=MeterEventStatus.FAILED, last_error=error.message[:300])
            logger.warning("meter event refused", extra={"identifier": event.identifier, "error": error.message})
            continue
        MeterEvent.objects.filter(pk=event.pk).update(status=MeterEventStatus.SENT, sent_at=timezone.now(), last_error="")
        sent += 1
    return sent


def subscription_cancel_for_workspace(*, workspace: Workspace) -> bool:
    """Cancels the workspace's Stripe subscription at once (the workspace is being deleted)."""
    account = BillingAccount.objects.filter(workspace=workspace).first()
    if not stripe_api.enabled() or account is None or not account.subscription_id:
        return False
    if account.status in (SubscriptionStatus.CANCELED, SubscriptionStatus.INCOMPLETE_EXPIRED):
        return False
    subscription_id = account.subscription_id
    stripe_api.call("subscriptions.cancel", lambda: stripe.Subscription.cancel(subscription_id))
    logger.info("subscription canceled with its workspace", extra={"workspace_id": workspace.pk})
    return True


def invoice_preview(*, workspace: Workspace) -> dict | None:
    """Stripe's preview of the subscription's next invoice (amount, date, lines), or None."""
    account = BillingAccount.objects.filter(workspace=workspace).first()
    if account is None or not account.subscription_id or account.status in LAPSED_STATUSES:
        return None
    customer_id, subscription_id = account.customer_id, account.subscription_id
    preview = stripe_api.call(
        "invoices.create_preview",
        lambda: stripe.Invoice.create_preview(customer=customer_id, subscription=subscription_id),
    )
    return {
        "amount_due": preview.get("amount_due") or 0,
        "currency": (preview.get("currency") or "usd").upper(),
        "next_payment_attempt": _timestamp(preview.get("next_payment_attempt") or preview.get("period_end")),
    }
