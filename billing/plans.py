"""The catalogue: plans, their prices and their limits, in one place.

Stripe holds the same prices under these lookup keys (``manage.py billing_setup`` creates them);
the limits live only here. ``None`` means unlimited.
"""

from __future__ import annotations

from dataclasses import dataclass, field


class Limit:
    INSTAGRAM_ACCOUNTS = "instagram_accounts"
    CAMPAIGNS = "campaigns"
    RUNS_PER_MONTH = "runs_per_month"
    AI_IMAGES_PER_MONTH = "ai_images_per_month"
    ACTIVE_TRIGGERS = "active_triggers"
    MEMBERS = "members"
    N8N_WORKFLOWS = "n8n_workflows"


LIMIT_LABELS: dict[str, str] = {
    Limit.INSTAGRAM_ACCOUNTS: "Connected Instagram accounts",
    Limit.CAMPAIGNS: "Campaigns (archived ones don't count)",
    Limit.RUNS_PER_MONTH: "Campaign runs a month",
    Limit.AI_IMAGES_PER_MONTH: "AI images a month included",
    Limit.ACTIVE_TRIGGERS: "Active triggers",
    Limit.MEMBERS: "Members, pending invitations included",
    Limit.N8N_WORKFLOWS: "Installed n8n workflows",
}

# Limits counted over the billing period rather than at one moment.
PERIOD_LIMITS = frozenset({Limit.RUNS_PER_MONTH, Limit.AI_IMAGES_PER_MONTH})
# Over these a paid plan goes on and the extra is billed through the meter; the free plan stops.
METERED_LIMITS = frozenset({Limit.AI_IMAGES_PER_MONTH})

INTERVALS = ("month", "year")
CURRENCY = "usd"
# Each AI image beyond the plan's allowance; billed through the Billing Meter.
EXTRA_AI_IMAGE_CENTS = 4
METER_EVENT_NAME = "ai_image_generated"
METER_PRODUCT_ID = "extra_ai_images"


@dataclass(frozen=True)
class Plan:
    key: str
    name: str
    tagline: str
    monthly_cents: int
    yearly_cents: int
    limits: dict[str, int | None] = field(default_factory=dict)
    highlighted: bool = False

    @property
    def is_free(self) -> bool:
        return self.key == FREE.key

    def lookup_key(self, interval: str) -> str:
        """The Stripe price lookup key of this plan billed every ``interval``."""
        return f"{self.key}_{interval}ly"

    def price_cents(self, interval: str) -> int:
        return self.monthly_cents if interval == "month" else self.yearly_cents

    def limit(self, name: str) -> int | None:
        return self.limits.get(name)


FREE = Plan(
    key="free",
    name="Free",
    tagline="Try it out with one account.",
    monthly_cents=0,
    yearly_cents=0,
    limits={
        Limit.INSTAGRAM_ACCOUNTS: 1,
        Limit.CAMPAIGNS: 3,
        Limit.RUNS_PER_MONTH: 10,
        Limit.AI_IMAGES_PER_MONTH: 5,
        Limit.ACTIVE_TRIGGERS: 1,
        Limit.MEMBERS: 2,
        Limit.N8N_WORKFLOWS: 1,
    },
)
BASIC = Plan(
    key="basic",
    name="Basic",
    tagline="For a small shop with a couple of accounts.",
    monthly_cents=1900,
    yearly_cents=19000,
    limits={
        Limit.INSTAGRAM_ACCOUNTS: 2,
        Limit.CAMPAIGNS: 25,
        Limit.RUNS_PER_MONTH: 60,
        Limit.AI_IMAGES_PER_MONTH: 30,
        Limit.ACTIVE_TRIGGERS: 5,
        Limit.MEMBERS: 3,
        Limit.N8N_WORKFLOWS: 2,
    },
)
PRO = Plan(
    key="pro",
    name="Pro",
    tagline="For teams running several brands.",
    monthly_cents=7900,
    yearly_cents=79000,
    highlighted=True,
    limits={
        Limit.INSTAGRAM_ACCOUNTS: 10,
        Limit.CAMPAIGNS: 250,
        Limit.RUNS_PER_MONTH: 600,
        Limit.AI_IMAGES_PER_MONTH: 300,
        Limit.ACTIVE_TRIGGERS: 50,
        Limit.MEMBERS: 10,
        Limit.N8N_WORKFLOWS: 10,
    },
)
ENTERPRISE = Plan(
    key="enterprise",
    name="Enterprise",
    tagline="For agencies: no caps on accounts, campaigns or people.",
    monthly_cents=29900,
    yearly_cents=299000,
    limits={
        Limit.INSTAGRAM_ACCOUNTS: None,
        Limit.CAMPAIGNS: None,
        Limit.RUNS_PER_MONTH: None,
        Limit.AI_IMAGES_PER_MONTH: 2000,
        Limit.ACTIVE_TRIGGERS: None,
        Limit.MEMBERS: None,
        Limit.N8N_WORKFLOWS: None,
    },
)

PAID_PLANS: tuple[Plan, ...] = (BASIC, PRO, ENTERPRISE)
PLANS: dict[str, Plan] = {plan.key: plan for plan in (FREE, *PAID_PLANS)}
# No limits at all: billing is off (no Stripe key), as in development and self-hosting.
UNLIMITED = Plan(key="unlimited", name="Unlimited", tagline="Billing is not configured.", monthly_cents=0, yearly_cents=0)


def plan_for_lookup_key(lookup_key: str | None) -> tuple[Plan, str] | None:
    """The plan and interval a price lookup key stands for, or None for any other price."""
    for plan in PAID_PLANS:
        for interval in INTERVALS:
            if plan.lookup_key(interval) == lookup_key:
                return plan, interval
    return None


def metered_lookup_key(interval: str) -> str:
    """The metered price for extra AI images; a subscription's prices share one interval."""
    return f"extra_ai_image_{interval}ly"


def feature_rows() -> list[tuple[str, list[int | None]]]:
    """The pricing page's table: one row per limit, one value per paid plan."""
    return [(label, [plan.limit(name) for plan in PAID_PLANS]) for name, label in LIMIT_LABELS.items()]
