from billing.models import BillingAccount
from billing.plans import Limit
from billing.selectors import workspace_allowance
from billing.services import limit_check
from djstripe.models import Price


def test_billing_setup_creates_the_catalogue_once(catalogue):
    from django.core.management import call_command

    prices = {o["lookup_key"] for o in catalogue.objects.values() if o.get("object") == "price"}
    assert {"basic_monthly", "pro_yearly", "enterprise_monthly", "extra_ai_image_monthly"} <= prices
    created = len(catalogue.objects)
    call_command("billing_setup", verbosity=0)
    assert len(catalogue.objects) == created
    assert Price.objects.count() == 8
