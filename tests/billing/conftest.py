import pytest

from billing.models import BillingAccount
from billing.selectors import billing_account_forget


@pytest.fixture
def billing_on(settings):
    """Billing configured; any Stripe call goes to a port where nothing listens."""
    settings.STRIPE_SECRET_KEY = "sk_test_fake_key_for_tests"


def put_on_plan(workspace, plan: str, status: str = "active", **fields) -> BillingAccount:
    """The state the webhooks leave behind, for tests about limits rather than about Stripe."""
    account, _ = BillingAccount.objects.update_or_create(
        workspace=workspace, defaults={"plan": plan, "status": status, **fields}
    )
    billing_account_forget(workspace.pk)
    return account
