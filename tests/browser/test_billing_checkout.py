"""The pricing page through Stripe Checkout (the fake's hosted page) to the success page, in Chromium."""

import pytest

from billing.selectors import workspace_allowance
from tests.billing.conftest import catalogue, stripe_fake  # noqa: F401  (fixtures)
from tests.factories import PASSWORD

pytestmark = pytest.mark.browser


def _allow_forms_to_reach(settings, origin: str) -> None:
    """The fake's hosted pages stand in for Stripe's, so the policy lets forms be redirected there."""
    directives = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {**directives, "form-action": [*directives["form-action"], origin]}}


def _sign_in_and_price_pro(page, live_server, alice) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=login]", alice.email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/pricing/")
    page.click("text=Yearly")
    assert "790.00" in page.inner_text("#plan-pro")


def test_it_lets_an_owner_buy_pro_from_the_pricing_page(page, live_server, catalogue, alice, alice_workspace, settings):  # noqa: F811
    from djstripe.models import WebhookEndpoint

    _allow_forms_to_reach(settings, catalogue.base_url)
    settings.PUBLIC_BASE_URL = live_server.url
    settings.BILLING_TRIAL_DAYS = 0
    endpoint = WebhookEndpoint.sync_from_stripe_data(
        {**catalogue.templates["webhook_endpoint"], "id": "we_browser", "url": live_server.url, "secret": "whsec_browser",
         "livemode": False, "metadata": {}, "enabled_events": ["*"], "status": "enabled"}
    )
    endpoint.secret = "whsec_browser"
    endpoint.save()
    catalogue.webhook_url = f"{live_server.url}/stripe/webhook/{endpoint.djstripe_uuid}/"
    catalogue.webhook_secret = endpoint.secret

    _sign_in_and_price_pro(page, live_server, alice)
    page.click("#plan-pro button")
    page.wait_for_selector("text=Fake Stripe Checkout")
    assert "/checkout/cs_test_" in page.url
    page.click("text=Pay")
    page.wait_for_url(f"{live_server.url}/billing/success/**")
    page.wait_for_selector("text=Your Pro plan is active")
    assert workspace_allowance(workspace=alice_workspace).interval == "year"

    page.goto(f"{live_server.url}/pricing/")
    assert "Current plan" in page.inner_text("#plan-pro")


def test_it_lets_no_form_redirect_to_an_origin_the_policy_does_not_name(page, live_server, catalogue, alice, settings):  # noqa: F811
    settings.PUBLIC_BASE_URL = live_server.url
    _sign_in_and_price_pro(page, live_server, alice)

    # Our answer redirects to the fake's Checkout, which is not Stripe's: the browser refuses.
    with page.expect_console_message(lambda message: "form-action" in message.text):
        page.click("#plan-pro button")

    assert page.url.startswith(live_server.url)
    assert page.locator("text=Fake Stripe Checkout").count() == 0
