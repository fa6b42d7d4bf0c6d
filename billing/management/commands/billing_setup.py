"""Creates or updates the catalogue in the Stripe account the settings point at, idempotently."""

from __future__ import annotations

import uuid

import stripe
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.urls import reverse
from djstripe.models import Price, Product, WebhookEndpoint

from billing import stripe_api
from billing.plans import CURRENCY, EXTRA_AI_IMAGE_CENTS, INTERVALS, METER_EVENT_NAME, METER_PRODUCT_ID, PAID_PLANS, metered_lookup_key
from billing.signals import HANDLED


class Command(BaseCommand):
    help = (
        "Creates or updates the plans' Products and Prices (by lookup key) and the Billing Meter "
        "(by event name) in Stripe, then copies them into dj-stripe's tables. Safe to run again."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--webhook",
            action="store_true",
            help="Also register this site's webhook endpoint (PUBLIC_BASE_URL/stripe/webhook/<uuid>/) with Stripe.",
        )

    def handle(self, *args, webhook: bool = False, **options) -> None:
        if not stripe_api.enabled():
            raise CommandError("STRIPE_SECRET_KEY is not set: billing is off, there is nothing to set up.")
        meter = self._meter()
        wanted: list[dict] = []
        for plan in PAID_PLANS:
            product = self._product(f"plan_{plan.key}", f"Marketing {plan.name}", {"plan": plan.key})
            for interval in INTERVALS:
                wanted.append(
                    {
                        "lookup_key": plan.lookup_key(interval),
                        "product": product["id"],
                        "unit_amount": plan.price_cents(interval),
                        "recurring": {"interval": interval, "usage_type": "licensed"},
                        "nickname": f"{plan.name} {interval}ly",
                    }
                )
        extra = self._product(METER_PRODUCT_ID, "Extra AI images", {"meter": METER_EVENT_NAME})
        for interval in INTERVALS:
            wanted.append(
                {
                    "lookup_key": metered_lookup_key(interval),
                    "product": extra["id"],
                    "unit_amount": EXTRA_AI_IMAGE_CENTS,
                    "recurring": {"interval": interval, "usage_type": "metered", "meter": meter["id"]},
                    "nickname": f"Extra AI image, billed {interval}ly",
                }
            )
        existing = {
            price["lookup_key"]: price
            for price in stripe_api.call(
                "prices.list",
                lambda: stripe.Price.list(lookup_keys=[w["lookup_key"] for w in wanted], active=True, limit=100),
            )["data"]
        }
        for spec in wanted:
            price = existing.get(spec["lookup_key"])
            if price is None or not _same_price(price, spec):
                # Prices cannot change amount: a new one takes over the lookup key.
                price = stripe_api.call(
                    "prices.create",
                    lambda spec=spec: stripe.Price.create(currency=CURRENCY, transfer_lookup_key=True, **spec),
                )
                self.stdout.write(f"Price {spec['lookup_key']}: created {price['id']}")
            Price.sync_from_stripe_data(price, api_key=settings.STRIPE_SECRET_KEY)
        if webhook:
            self._webhook_endpoint()
        self.stdout.write(self.style.SUCCESS(f"Catalogue ready: {len(wanted)} prices, meter {meter['id']}."))

    def _meter(self) -> dict:
        meters = stripe_api.call("billing.meters.list", lambda: stripe.billing.Meter.list(limit=100))["data"]
        for meter in meters:
            if meter["event_name"] == METER_EVENT_NAME:
                return meter
        meter = stripe_api.call(
            "billing.meters.create",
            lambda: stripe.billing.Meter.create(
                display_name="AI images",
                event_name=METER_EVENT_NAME,
                default_aggregation={"formula": "sum"},
                customer_mapping={"event_payload_key": "stripe_customer_id", "type": "by_id"},
                value_settings={"event_payload_key": "value"},
            ),
        )
        self.stdout.write(f"Meter {METER_EVENT_NAME}: created {meter['id']}")
        return meter

    def _product(self, product_id: str, name: str, metadata: dict) -> dict:
        try:
            product = stripe_api.call("products.retrieve", lambda: stripe.Product.retrieve(product_id))
            if product["name"] != name:
                product = stripe_api.call("products.modify", lambda: stripe.Product.modify(product_id, name=name))
        except stripe_api.ProviderError as error:
            if error.status != 404:
                raise
            product = stripe_api.call(
                "products.create", lambda: stripe.Product.create(id=product_id, name=name, metadata=metadata)
            )
            self.stdout.write(f"Product {product_id}: created")
        Product.sync_from_stripe_data(product, api_key=settings.STRIPE_SECRET_KEY)
        return product

    def _webhook_endpoint(self) -> None:
        djstripe_uuid = uuid.uuid4()
        url = settings.PUBLIC_BASE_URL + reverse("stripe_webhook", args=[djstripe_uuid])
        data = stripe_api.call(
            "webhook_endpoints.create",
            lambda: stripe.WebhookEndpoint.create(
                url=url,
                enabled_events=HANDLED,
                api_version=settings.STRIPE_API_VERSION,
                metadata={"djstripe_uuid": str(djstripe_uuid)},
            ),
        )
        endpoint = WebhookEndpoint.sync_from_stripe_data(data, api_key=settings.STRIPE_SECRET_KEY)
        # Stripe shows the signing secret only in the answer to the create call.
        endpoint.secret = data["secret"]
        endpoint.save(update_fields=["secret"])
        self.stdout.write(f"Webhook endpoint: {url}")


def _same_price(price: dict, spec: dict) -> bool:
    recurring = price.get("recurring") or {}
    return (
        price.get("unit_amount") == spec["unit_amount"]
        and price.get("product") == spec["product"]
        and recurring.get("interval") == spec["recurring"]["interval"]
        and recurring.get("usage_type") == spec["recurring"]["usage_type"]
    )
