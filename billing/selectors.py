"""Reads about billing. ``workspace_allowance`` answers "what may this workspace do now"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import QuerySet
from django.utils import timezone
from djstripe.models import Invoice

from marketing.models import Workspace

from . import stripe_api
from .models import LAPSED_STATUSES, PAYING_STATUSES, BillingAccount, SubscriptionStatus
from .plans import FREE, METERED_LIMITS, PLANS, UNLIMITED, Plan
from .usage import usage_expressions

CACHE_TTL = 3600
_FIELDS = (
    "plan",
    "interval",
    "status",
    "current_period_start",
    "current_period_end",
    "cancel_at_period_end",
    "lapsed_at",
    "customer_id",
    "subscription_id",
)


def _cache_key(workspace_id: int) -> str:
    return f"billing:account:v1:{workspace_id}"


def billing_account_forget(workspace_id: int) -> None:
    """Drops the cached plan; the webhook handlers call it after every change."""
    cache.delete(_cache_key(workspace_id))


def _account_fields(workspace_id: int) -> dict[str, Any]:
    key = _cache_key(workspace_id)
    fields = cache.get(key)
    if fields is None:
        row = BillingAccount.objects.filter(workspace_id=workspace_id).values(*_FIELDS).first()
        fields = row or {"plan": FREE.key, "status": SubscriptionStatus.NONE}
        cache.set(key, fields, CACHE_TTL)
    return fields


def _month_start(now: datetime) -> datetime:
    return now.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class Allowance:
    """A workspace's plan as it applies at this moment."""

    enabled: bool
    plan: Plan
    subscribed_plan: Plan  # the plan paid for, even while a lapsed one has fallen back to free
    status: str
    interval: str
    period_start: datetime
    period_end: datetime | None
    cancel_at_period_end: bool
    grace_until: datetime | None  # a lapsed subscription's plan holds until then
    has_customer: bool
    has_subscription: bool

    @property
    def past_due(self) -> bool:
        return self.status == SubscriptionStatus.PAST_DUE

    @property
    def fell_back(self) -> bool:
        return self.plan.is_free and not self.subscribed_plan.is_free

    def limit(self, name: str) -> int | None:
        return self.plan.limit(name) if self.enabled else None

    def is_metered(self, name: str) -> bool:
        """Past this limit the work goes on and is billed through the meter."""
        return name in METERED_LIMITS and self.enabled and not self.plan.is_free and self.has_customer


def workspace_allowance(*, workspace: Workspace | int, now: datetime | None = None) -> Allowance:
    """The plan, status, limits and period in force; no query while the cache is warm."""
    now = now or timezone.now()
    workspace_id = workspace if isinstance(workspace, int) else workspace.pk
    if not stripe_api.enabled():
        return Allowance(
            enabled=False,
            plan=UNLIMITED,
            subscribed_plan=UNLIMITED,
            status="",
            interval="",
            period_start=_month_start(now),
            period_end=None,
            cancel_at_period_end=False,
            grace_until=None,
            has_customer=False,
            has_subscription=False,
        )
    fields = _account_fields(workspace_id)
    status = fields.get("status") or ""
    subscribed = PLANS.get(fields.get("plan") or "", FREE)
    plan, grace_until = subscribed, None
    if status in LAPSED_STATUSES and fields.get("lapsed_at"):
        grace_until = fields["lapsed_at"] + timedelta(days=settings.BILLING_GRACE_DAYS)
        if now >= grace_until:
            plan = FREE
    elif status not in PAYING_STATUSES:
        plan = FREE
    period_start = fields.get("current_period_start")
    period_end = fields.get("current_period_end")
    if plan.is_free or period_start is None or (period_end is not None and now >= period_end):
        period_start, period_end = _month_start(now), None
    return Allowance(
        enabled=True,
        plan=plan,
        subscribed_plan=subscribed,
        status=status,
        interval=fields.get("interval") or "",
        period_start=period_start,
        period_end=period_end,
        cancel_at_period_end=bool(fields.get("cancel_at_period_end")),
        grace_until=grace_until,
        has_customer=bool(fields.get("customer_id")),
        has_subscription=bool(fields.get("subscription_id")),
    )


def workspace_usage(*, workspace: Workspace | int, allowance: Allowance, only: str | None = None) -> dict[str, int]:
    """How much of each limited thing the workspace has (this period for monthly limits), in one query."""
    workspace_id = workspace if isinstance(workspace, int) else workspace.pk
    expressions = usage_expressions(allowance.period_start)
    if only is not None:
        expressions = {only: expressions[only]}
    # Prefixed: some limits share their name with a reverse relation of Workspace.
    aliases = {f"usage_{name}": expression for name, expression in expressions.items()}
    row = Workspace.objects.filter(pk=workspace_id).annotate(**aliases).values(*aliases).first() or {}
    return {name: row.get(f"usage_{name}", 0) for name in expressions}


@dataclass(frozen=True)
class LimitLine:
    name: str
    label: str
    used: int
    allowed: int | None

    @property
    def over(self) -> bool:
        return self.allowed is not None and self.used > self.allowed

    @property
    def percent(self) -> int:
        if not self.allowed:
            return 0
        return min(100, round(100 * self.used / self.allowed))


def workspace_billing_overview(*, workspace: Workspace) -> tuple[Allowance, list[LimitLine]]:
    """The plan and each limit with its usage, for the billing page."""
    from .plans import LIMIT_LABELS

    allowance = workspace_allowance(workspace=workspace)
    usage = workspace_usage(workspace=workspace, allowance=allowance)
    return allowance, [
        LimitLine(name=name, label=label, used=usage[name], allowed=allowance.limit(name))
        for name, label in LIMIT_LABELS.items()
    ]


def billing_account_for(*, workspace: Workspace) -> BillingAccount | None:
    return BillingAccount.objects.select_related("customer").filter(workspace=workspace).first()


def invoice_list(*, workspace: Workspace) -> QuerySet[Invoice]:
    """The workspace's invoices from dj-stripe's tables, newest first."""
    account = BillingAccount.objects.filter(workspace=workspace).values("customer_id").first()
    if not account or not account["customer_id"]:
        return Invoice.objects.none()
    return Invoice.objects.filter(customer_id=account["customer_id"]).order_by("-created")
