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
    found = []
    for model in [*apps.get_app_config("djstripe").get_models(), *apps.get_app_config("billing").get_models()]:
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


def test_the_migration_deletes_stored_secret_keys(db):
    APIKey.objects.bulk_create([
        APIKey(secret="sk_test_" + "d" * 30, type="secret", livemode=False),
        APIKey(secret="rk_test_" + "e" * 30, type="restricted", livemode=False),
        APIKey(secret="pk_test_" + "f" * 30, type="publishable", livemode=False),
    ])
    migration = importlib.import_module("billing.migrations.0003_forget_stored_stripe_keys")
    migration.forget_stored_keys(apps, SimpleNamespace(connection=connection))
    assert list(APIKey.objects.values_list("type", flat=True)) == ["publishable"]


def test_the_admin_offers_no_form_for_api_keys(admin_client):
    assert admin_client.get("/admin/djstripe/apikey/add/").status_code == 404
