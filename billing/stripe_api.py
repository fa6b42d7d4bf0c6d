"""The one way the product calls Stripe: the SDK under integrations/http's breaker, metrics and logs.

dj-stripe makes its own SDK calls (webhook processing re-reads objects); those use the same
``stripe.api_base`` and version, set here from settings, and the secret key from settings only
(``keep_keys_out_of_the_database``).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

import stripe
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import transaction
from django.db.models.signals import pre_save
from django.dispatch import receiver
from djstripe.enums import APIKeyType
from djstripe.models import Account, APIKey
from djstripe.settings import djstripe_settings

from integrations import http
from integrations.http import ProviderError  # noqa: F401  (callers catch it from here)

PROVIDER = "stripe"
T = TypeVar("T")


def configure() -> None:
    stripe.api_base = settings.STRIPE_API_BASE
    stripe.api_version = settings.STRIPE_API_VERSION
    stripe.api_key = settings.STRIPE_SECRET_KEY or None
    # The SDK retries connection errors and 409/429/5xx with the same idempotency key.
    stripe.max_network_retries = settings.STRIPE_NETWORK_RETRIES
    stripe.enable_telemetry = False
    global _client
    _client = None


@receiver(setting_changed)
def _reconfigure(*, setting: str, **kwargs) -> None:
    if setting.startswith("STRIPE_"):
        configure()


_client: stripe.StripeClient | None = None


def client() -> stripe.StripeClient:
    """A client on the same base, version and retries, for ``raw_request``: Stripe's JSON as plain
    dicts, without the SDK objects (building those cost more than the request on a webhook)."""
    global _client
    if _client is None:
        _client = stripe.StripeClient(
            # Callers pass the key per request; the client only refuses to be made without one.
            settings.STRIPE_SECRET_KEY or "sk_unset",
            stripe_version=settings.STRIPE_API_VERSION,
            base_addresses={"api": settings.STRIPE_API_BASE},
            max_network_retries=settings.STRIPE_NETWORK_RETRIES,
        )
    return _client


def enabled() -> bool:
    """Billing is on only with a Stripe key; without one there are no limits."""
    return bool(settings.STRIPE_SECRET_KEY)


def _is_transient(exc: Exception) -> bool:
    if isinstance(exc, stripe.APIConnectionError | stripe.RateLimitError):
        return True
    status = getattr(exc, "http_status", None)
    return isinstance(status, int) and status >= 500


def call(operation: str, fn: Callable[[], T]) -> T:
    """Run one SDK call under the Stripe breaker; Stripe's errors become ProviderError.

    Messages carry Stripe's error text, which never holds the secret key.
    """
    try:
        return http.call(PROVIDER, operation, fn, is_transient=_is_transient)
    except stripe.StripeError as exc:
        status = getattr(exc, "http_status", None)
        transient = _is_transient(exc)
        raise ProviderError(
            f"stripe: {operation} failed: {exc.user_message or type(exc).__name__}",
            provider=PROVIDER,
            retryable=transient,
            status=status,
            outcome="server_error" if transient else "client_error",
        ) from None


# dj-stripe keeps every secret key it is handed in its APIKey table, in plain text, to find the
# Stripe account a key belongs to, and reads keys back from there. The project's rule is that
# secrets of outside services are encrypted at rest, and ours lives in settings anyway
# (STRIPE_SECRET_KEY), so dj-stripe is pointed at settings and remembers only the account id.
_account_ids: dict[str, str] = {}
# Accounts already read in the current unit of work (``accounts_remembered``), by key digest.
_accounts_in_hand: ContextVar[dict | None] = ContextVar("stripe_accounts_in_hand", default=None)


@contextmanager
def accounts_remembered() -> Iterator[None]:
    """Within the block, the account of a key is read from the database once.

    dj-stripe asks for it once per object it syncs (four times for a subscription event). Only
    for a block inside one transaction: a row read there cannot have gone before it ends.
    """
    token = _accounts_in_hand.set({})
    try:
        yield
    finally:
        _accounts_in_hand.reset(token)


def _key_digest(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


def _account_for_api_key(cls, api_key: str):
    """``Account.get_or_retrieve_for_api_key`` without storing the key: the account it belongs to,
    read from Stripe once per process (as dj-stripe's ``APIKey.refresh_account`` does)."""
    digest = _key_digest(api_key)
    in_hand = _accounts_in_hand.get()
    if in_hand is not None and digest in in_hand:
        return in_hand[digest]
    account_id = _account_ids.get(digest)
    if account_id:
        account = cls.objects.filter(id=account_id).first()
        if account is not None:
            if in_hand is not None:
                in_hand[digest] = account
            return account
    data = cls.stripe_class.retrieve(api_key=api_key, stripe_version=djstripe_settings.STRIPE_API_VERSION)
    with transaction.atomic():
        account, created = cls.objects.get_or_create(id=data["id"])
        # Known before the sync, which asks for the account of this same key again.
        _account_ids[_key_digest(api_key)] = account.id
        if created:
            cls.sync_from_stripe_data(data, api_key=api_key)
    return account


def _default_api_key(self, livemode: bool | None = None) -> str:
    """``Account.get_default_api_key``: the key from settings, never one read from the database."""
    return djstripe_settings.get_default_api_key(self.livemode if livemode is None else livemode)


def _refuse_stored_secret(sender, instance, **kwargs) -> None:
    # Publishable keys (pk_) are public; anything else is a secret.
    if instance.type in (APIKeyType.secret, APIKeyType.restricted) or not instance.secret.startswith("pk_"):
        raise ImproperlyConfigured(
            "Stripe secret keys are not stored in the database: set STRIPE_SECRET_KEY in the environment."
        )


def keep_keys_out_of_the_database() -> None:
    """Called once at start-up (billing's AppConfig.ready)."""
    Account.get_or_retrieve_for_api_key = classmethod(_account_for_api_key)
    Account.get_default_api_key = _default_api_key
    pre_save.connect(_refuse_stored_secret, sender=APIKey, dispatch_uid="billing.refuse_stored_stripe_secret")
