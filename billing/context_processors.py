from django.http import HttpRequest

from .models import SubscriptionStatus
from .selectors import workspace_allowance


def billing_banner(request: HttpRequest) -> dict:
    """Owners see a banner while a payment has failed or a lapsed plan is in its grace period."""
    membership = getattr(request, "membership", None)
    if membership is None or membership.role != "owner":
        return {}
    allowance = workspace_allowance(workspace=membership.workspace_id)
    if not allowance.enabled:
        return {}
    if allowance.past_due:
        return {"billing_banner": "past_due", "billing_allowance": allowance}
    if allowance.status in (SubscriptionStatus.CANCELED, SubscriptionStatus.UNPAID) and allowance.subscribed_plan.key != "free":
        return {"billing_banner": "lapsed", "billing_allowance": allowance}
    return {}
