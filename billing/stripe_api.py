"""The one way the product calls Stripe: the SDK under integrations/http's breaker, metrics and logs.

dj-stripe makes its own SDK calls (webhook processing re-reads objects); those use the same
``stripe.api_base`` and version, set here from settings.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import stripe
from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

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


@receiver(setting_changed)
def _reconfigure(*, setting: str, **kwargs) -> None:
    if setting.startswith("STRIPE_"):
        configure()


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
