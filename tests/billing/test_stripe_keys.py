"""The Stripe secret key lives in settings only: dj-stripe neither stores it nor reads one stored."""

import importlib
from types import SimpleNamespace

import pytest
from django.apps import apps
from django.core import serializers
from django.core.exceptions import ImproperlyConfigured
from django.db import connection
from djstripe.models import Account, APIKey

from billing.selectors import workspace_allowance

SECRET = "sk_test_FakeKeyForTests0123456789abcdef"  # tests/billing/conftest.py's key


def _rows_holding(text: str) -> list[str]:
    """Models with a row holding ``text`` (billing.WebhookSecret, which decrypts it, aside)."""
    found = []
    for model in [*apps.get_app_config("djstripe").get_models(), *apps.get_app_config("billing").get_models()]:
        if model._meta.label == "billing.WebhookSecret":
            continue
        for row in serializers.serialize("json", model._default_manager.all()).split('{"model"'):
            if text in row:
                found.append(model._meta.label)
    return found


def test_it_stores_the_secret_key_nowhere_through_checkout_and_webhooks(catalogue, deliver, alice_client, alice_workspace, settings):
    settings.BILLING_TRIAL_DAYS = 0
    response = alice_client.post("/billing/checkout/", {"plan": "pro", "interval": "month"})
    session_id = response["Location"].rsplit("/", 1)[-1]
    deliver(*catalogue.complete_checkout(session_id, status="active"))
    assert workspace_allowance(workspace=alice_workspace).plan.key == "pro"
    assert Account.objects.exists()  # dj-stripe still knows which account the key belongs to
    assert not APIKey.objects.exists()
    assert _rows_holding(SECRET) == []


def test_it_refuses_to_store_a_secret_key(db):
    with pytest.raises(ImproperlyConfigured):
        APIKey.objects.create(secret="sk_live_" + "a" * 30, type="secret", livemode=True)
    with pytest.raises(ImproperlyConfigured):
        APIKey.objects.create(secret="rk_test_" + "a" * 30, type="restricted", livemode=False)
    APIKey.objects.create(secret="pk_test_" + "a" * 30, type="publishable", livemode=False)  # public by design


def test_it_reads_the_key_from_settings_not_from_a_stored_one(stripe_fake, db, settings):
    account = Account.objects.create(id="acct_settings")
    # A key stored before this change (the migration deletes them) is not used.
    APIKey.objects.bulk_create([APIKey(secret="sk_test_" + "b" * 30, type="secret", livemode=False, djstripe_owner_account=account)])
    settings.STRIPE_SECRET_KEY = "sk_test_" + "c" * 30
    assert account.get_default_api_key(livemode=False) == settings.STRIPE_SECRET_KEY


def test_it_deletes_stored_secret_keys_in_the_migration(db):
    APIKey.objects.bulk_create([
        APIKey(secret="sk_test_" + "d" * 30, type="secret", livemode=False),
        APIKey(secret="rk_test_" + "e" * 30, type="restricted", livemode=False),
        APIKey(secret="pk_test_" + "f" * 30, type="publishable", livemode=False),
    ])
    migration = importlib.import_module("billing.migrations.0003_forget_stored_stripe_keys")
    migration.forget_stored_keys(apps, SimpleNamespace(connection=connection))
    assert list(APIKey.objects.values_list("type", flat=True)) == ["publishable"]


def test_it_offers_no_admin_form_for_api_keys(admin_client):
    assert admin_client.get("/admin/djstripe/apikey/add/").status_code == 404


def test_it_keeps_the_webhook_signing_secret_encrypted_and_out_of_djstripe(webhook, deliver, catalogue):
    from django.db.models import TextField
    from django.db.models.functions import Cast
    from djstripe.models import WebhookEndpoint

    from billing.models import WebhookSecret

    assert WebhookEndpoint.objects.filter(pk=webhook.pk).values_list("secret", flat=True).get() == ""
    stored = WebhookSecret.objects.annotate(raw=Cast("secret", TextField())).values_list("raw", flat=True).get()
    assert "whsec_test_secret" not in stored
    assert WebhookSecret.objects.get().secret == "whsec_test_secret"
    assert _rows_holding("whsec_test_secret") == []
    # Deliveries are still verified with it.
    event = catalogue.event("customer.updated", catalogue.add_customer())
    assert deliver(event).status_code == 200
    assert deliver(event, secret="whsec_wrong").status_code == 400


def test_it_moves_stored_signing_secrets_into_the_encrypted_table_in_the_migration(webhook):
    from djstripe.models import WebhookEndpoint

    from billing.models import WebhookSecret

    WebhookSecret.objects.all().delete()
    # As dj-stripe stored it: in its column and in Stripe's answer kept whole.
    data = {**webhook.stripe_data, "secret": "whsec_from_before"}
    WebhookEndpoint.objects.filter(pk=webhook.pk).update(secret="whsec_from_before", stripe_data=data)
    migration = importlib.import_module("billing.migrations.0004_webhooksecret")
    migration.move_secrets(apps, SimpleNamespace(connection=connection))
    assert WebhookEndpoint.objects.filter(pk=webhook.pk).values_list("secret", flat=True).get() == ""
    assert "secret" not in WebhookEndpoint.objects.get(pk=webhook.pk).stripe_data
    assert WebhookSecret.objects.get(endpoint=webhook).secret == "whsec_from_before"


def test_it_reencrypts_the_signing_secret_with_reencrypt_secrets(webhook):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("reencrypt_secrets", stdout=out)
    assert "billing.WebhookSecret.secret: 1 re-encrypted" in out.getvalue()
