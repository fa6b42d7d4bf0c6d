import pytest

from billing.models import BillingAccount
from billing.selectors import billing_account_forget


@pytest.fixture
def billing_on(settings):
    """Billing configured; any Stripe call goes to a port where nothing listens."""
    settings.STRIPE_SECRET_KEY = "sk_test_FakeKeyForTests0123456789abcdef"


def put_on_plan(workspace, plan: str, status: str = "active", **fields) -> BillingAccount:
    """The state the webhooks leave behind, for tests about limits rather than about Stripe."""
    account, _ = BillingAccount.objects.update_or_create(
        workspace=workspace, defaults={"plan": plan, "status": status, **fields}
    )
    billing_account_forget(workspace.pk)
    return account


@pytest.fixture
def stripe_fake(settings):
    """Billing on, with the SDK and dj-stripe talking to a local fake of Stripe's API."""
    from tests.billing.fake_stripe import FakeStripe

    fake = FakeStripe().start()
    settings.STRIPE_SECRET_KEY = "sk_test_FakeKeyForTests0123456789abcdef"
    settings.STRIPE_API_BASE = fake.base_url
    settings.STRIPE_NETWORK_RETRIES = 0
    yield fake
    fake.stop()


@pytest.fixture
def catalogue(stripe_fake, db):
    """The products, prices and meter ``billing_setup`` creates, in the fake and in dj-stripe's tables."""
    from django.core.management import call_command

    call_command("billing_setup", verbosity=0)
    return stripe_fake


@pytest.fixture
def webhook(stripe_fake, db):
    """dj-stripe's endpoint row with its signing secret, and a function that delivers events to it."""
    from djstripe.models import WebhookEndpoint

    data = {
        **stripe_fake.templates["webhook_endpoint"],
        "id": "we_test",
        "url": "http://testserver/stripe/webhook/",
        "secret": "whsec_test_secret",
        "livemode": False,
        "metadata": {},
        "enabled_events": ["*"],
        "status": "enabled",
    }
    endpoint = WebhookEndpoint.sync_from_stripe_data(data)
    endpoint.secret = data["secret"]
    endpoint.save()
    stripe_fake.webhook_secret = endpoint.secret
    return endpoint


@pytest.fixture
def deliver(client, webhook, django_capture_on_commit_callbacks):
    """Posts events through the real endpoint URL, signed as Stripe signs them.

    What the handlers queue for after the commit (emails, cache drops) runs, as it would in production.
    """
    import json

    from tests.billing.fake_stripe import sign

    def send(*events, secret: str | None = None, signature: str | None = None):
        responses = []
        for event in events:
            payload = json.dumps(event).encode()
            headers = {}
            header = signature if signature is not None else sign(payload, secret or webhook.secret)
            if header:
                headers["HTTP_STRIPE_SIGNATURE"] = header
            with django_capture_on_commit_callbacks(execute=True):
                responses.append(
                    client.post(
                        f"/stripe/webhook/{webhook.djstripe_uuid}/", data=payload, content_type="application/json", **headers
                    )
                )
        return responses[0] if len(responses) == 1 else responses

    return send
