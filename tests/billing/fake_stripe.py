"""A local, stateful stand-in for the Stripe API, reached over real HTTP by the real SDK.

Its objects are copies of Stripe's own published examples (``tests/billing/stripe_fixtures/fixtures3.json``)
with ids, customers, statuses and times changed. It also plays Stripe's hosted pages: the
Checkout URL it hands out shows a "Pay" button that completes the session and delivers the
webhooks, signed as Stripe signs them, to the endpoint it was told about.

Helpers stand for what happens on Stripe's side (a customer paying, a card failing, a plan
change in the portal); each returns the events Stripe would send, for ``deliver()``.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import requests

from tests.local_server import LocalServer, QuietHandler

FIXTURES = Path(__file__).resolve().parent / "stripe_fixtures" / "fixtures3.json"
API_VERSION = "2026-05-27.dahlia"
DAY = 86400


def sign(payload: bytes, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header: t=<unix time>,v1=HMAC-SHA256(secret, "<t>.<payload>")."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def parse_form(body: str) -> dict[str, Any]:
    """Stripe's form encoding (``line_items[0][price]=…``) back into nested dicts and lists."""
    root: dict[str, Any] = {}
    for key, value in parse_qsl(body, keep_blank_values=True):
        parts = re.findall(r"[^\[\]]+|\[\]", key)
        node = root
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if part == "[]":
                part = str(len(node))
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return _listify(root)


def _listify(node: Any) -> Any:
    if isinstance(node, dict):
        node = {k: _listify(v) for k, v in node.items()}
        if node and all(k.isdigit() for k in node):
            return [node[k] for k in sorted(node, key=int)]
    return node


@dataclass
class Received:
    method: str
    path: str
    params: dict[str, Any]
    idempotency_key: str | None


class NotFound(Exception):
    pass


class FakeStripe(LocalServer):
    def __init__(self) -> None:
        self.templates: dict[str, dict] = json.loads(FIXTURES.read_text())["resources"]
        self.objects: dict[str, dict] = {}
        self.requests: list[Received] = []
        self.meter_events: dict[str, dict] = {}  # by identifier: Stripe keeps one per identifier
        self.meter_event_posts = 0
        self.down = False  # every API call answers 500, as in an outage
        self.webhook_url: str | None = None
        self.webhook_secret: str | None = None
        self._idempotent: dict[str, tuple[int, dict]] = {}
        self._lock = threading.RLock()
        super().__init__(self._handler())
        self.account = self._new("account", "acct", email="owner@example.com", business_profile=None)
        self.account["settings"] = None

    # --- the server ---------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.origin

    def _handler(self):
        fake = self

        class Handler(QuietHandler):
            protocol_version = "HTTP/1.1"

            def _dispatch(self, method: str) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                params = parse_form(body if method == "POST" else url.query)
                key = self.headers.get("Idempotency-Key")
                with fake._lock:
                    fake.requests.append(Received(method, url.path, params, key))
                status, payload, content_type, headers = fake._answer(method, url.path, params, key)
                data = payload.encode() if isinstance(payload, str) else json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:
                self._dispatch("GET")

            def do_POST(self) -> None:
                self._dispatch("POST")

            def do_DELETE(self) -> None:
                self._dispatch("DELETE")

        return Handler

    def _answer(self, method: str, path: str, params: dict, key: str | None):
        if path.startswith("/checkout/") or path.startswith("/portal/"):
            return self._hosted_page(method, path)
        if self.down:
            return 500, _error("api_error", "Stripe is having a bad day (fake outage)."), "application/json", {}
        if key and method == "POST" and key in self._idempotent:
            status, body = self._idempotent[key]
            return status, body, "application/json", {"Idempotent-Replayed": "true"}
        try:
            status, body = 200, self._route(method, path, params)
        except NotFound as missing:
            status, body = 404, _error("invalid_request_error", f"No such object: '{missing}'", code="resource_missing")
        except ValueError as invalid:
            status, body = 400, _error("invalid_request_error", str(invalid))
        if key and method == "POST":
            self._idempotent[key] = (status, body)
        return status, body, "application/json", {}

    def _route(self, method: str, path: str, p: dict) -> dict:
        parts = path.strip("/").split("/")[1:]  # drop "v1"
        with self._lock:
            match method, parts:
                case "GET", ["account"]:
                    return self.account
                case "POST", ["customers"]:
                    return self._customer(email=p.get("email"), name=p.get("name"), metadata=p.get("metadata", {}))
                case "GET", ["products", _, "features"]:
                    return {"object": "list", "data": [], "has_more": False, "url": path}
                case "POST", ["products"]:
                    return self._new("product", "prod", id=p.get("id"), name=p["name"], metadata=p.get("metadata", {}),
                                     default_price=None, description=p.get("description"))
                case "GET", ["products"] | ["prices"] | ["billing", "meters"] | ["webhook_endpoints"] | ["invoices"] | ["subscriptions"]:
                    return self._list(parts, p)
                case "POST", ["prices"]:
                    return self._price_create(p)
                case "POST", ["billing", "meters"]:
                    return self._new("billing.meter", "mtr", event_name=p["event_name"], display_name=p["display_name"],
                                     default_aggregation=p.get("default_aggregation", {"formula": "sum"}),
                                     customer_mapping=p.get("customer_mapping", {"event_payload_key": "stripe_customer_id", "type": "by_id"}),
                                     value_settings=p.get("value_settings", {"event_payload_key": "value"}), livemode=False)
                case "POST", ["billing", "meter_events"]:
                    return self._meter_event(p)
                case "POST", ["checkout", "sessions"]:
                    return self._checkout_create(p)
                case "POST", ["billing_portal", "sessions"]:
                    session = self._new("billing_portal.session", "bps", customer=p["customer"], return_url=p.get("return_url"), flow=None, configuration=None, livemode=False)
                    session["url"] = f"{self.base_url}/portal/{session['id']}"
                    return session
                case "POST", ["webhook_endpoints"]:
                    endpoint = self._new("webhook_endpoint", "we", url=p["url"], enabled_events=p.get("enabled_events", ["*"]),
                                         metadata=p.get("metadata", {}), api_version=p.get("api_version"), status="enabled", livemode=False)
                    endpoint["secret"] = "whsec_" + secrets.token_hex(16)
                    return endpoint
                case "POST", ["invoices", "create_preview"]:
                    return self._invoice_preview(p)
                case "DELETE", ["subscriptions", sub_id]:
                    self.cancel_subscription(sub_id)
                    return self.get(sub_id)
                case "GET", [_, obj_id] | ["checkout", "sessions", obj_id] | ["billing", "meters", obj_id]:
                    return self.get(obj_id)
                case "POST", [_, obj_id] | ["billing", "meters", obj_id]:
                    obj = self.get(obj_id)
                    for name in ("active", "lookup_key", "nickname", "name", "display_name"):
                        if name in p:
                            obj[name] = p[name] if name not in ("active",) else p[name] == "true"
                    if "metadata" in p:
                        obj["metadata"] = {**(obj.get("metadata") or {}), **p["metadata"]}
                    return obj
        raise NotFound(path)

    def _hosted_page(self, method: str, path: str):
        """Stripe's hosted Checkout and portal pages, cut down to one button each."""
        kind, session_id, *rest = path.strip("/").split("/")
        with self._lock:
            session = self.objects.get(session_id)
        if session is None:
            return 404, "No such session", "text/plain", {}
        if kind == "portal":
            return 200, f"<h1>Fake customer portal</h1><a href='{session['return_url']}'>Return</a>", "text/html", {}
        if method == "POST" and rest == ["pay"]:
            events = self.complete_checkout(session_id)
            for event in events:
                self.deliver_to_endpoint(event)
            return 303, "", "text/plain", {"Location": session["success_url"].replace("{CHECKOUT_SESSION_ID}", session_id)}
        page = (
            f"<h1>Fake Stripe Checkout</h1><p>Subscribe to {session['metadata'].get('plan', '')}</p>"
            f"<form method='post' action='/checkout/{session_id}/pay'><button type='submit'>Pay</button></form>"
            f"<a href='{session['cancel_url']}'>Back</a>"
        )
        return 200, page, "text/html", {}

    # --- objects ------------------------------------------------------------------------

    def _new(self, kind: str, prefix: str, **fields) -> dict:
        obj = copy.deepcopy(self.templates[kind])
        obj_id = fields.pop("id", None) or f"{prefix}_{secrets.token_hex(8)}"
        obj.update(id=obj_id, created=int(time.time()), **fields)
        if "livemode" in obj:
            obj["livemode"] = False
        self.objects[obj_id] = obj
        return obj

    def get(self, obj_id: str) -> dict:
        with self._lock:
            obj = self.objects.get(obj_id)
        if obj is None:
            raise NotFound(obj_id)
        return obj

    def _list(self, parts: list[str], p: dict) -> dict:
        kind = {"products": "product", "prices": "price", "meters": "billing.meter",
                "webhook_endpoints": "webhook_endpoint", "invoices": "invoice", "subscriptions": "subscription"}[parts[-1]]
        found = [o for o in self.objects.values() if o.get("object") == kind]
        if "lookup_keys" in p:
            found = [o for o in found if o.get("lookup_key") in p["lookup_keys"]]
        if p.get("active") == "true":
            found = [o for o in found if o.get("active")]
        if "customer" in p:
            found = [o for o in found if o.get("customer") == p["customer"]]
        return {"object": "list", "data": found, "has_more": False, "url": "/v1/" + "/".join(parts)}

    def _price_create(self, p: dict) -> dict:
        if p.get("lookup_key"):
            for other in self.objects.values():
                if other.get("object") == "price" and other.get("lookup_key") == p["lookup_key"]:
                    if p.get("transfer_lookup_key") != "true":
                        raise ValueError(f"A price with lookup_key {p['lookup_key']} already exists.")
                    other["lookup_key"] = None
        recurring = p.get("recurring") or {}
        return self._new(
            "price", "price", product=p["product"], currency=p.get("currency", "usd"), lookup_key=p.get("lookup_key"),
            unit_amount=int(p["unit_amount"]) if "unit_amount" in p else None,
            unit_amount_decimal=p.get("unit_amount_decimal") or p.get("unit_amount"), nickname=p.get("nickname"),
            metadata=p.get("metadata", {}), active=True, transform_quantity=None, custom_unit_amount=None,
            recurring={"interval": recurring.get("interval", "month"), "interval_count": 1, "meter": recurring.get("meter"),
                       "usage_type": recurring.get("usage_type", "licensed"), "trial_period_days": None},
        )

    def _meter_event(self, p: dict) -> dict:
        self.meter_event_posts += 1
        identifier = p.get("identifier") or secrets.token_hex(8)
        if identifier not in self.meter_events:
            event = copy.deepcopy(self.templates["billing.meter_event"])
            event.update(event_name=p["event_name"], identifier=identifier, payload=p.get("payload", {}),
                         timestamp=int(p.get("timestamp") or time.time()), created=int(time.time()))
            self.meter_events[identifier] = event
        return self.meter_events[identifier]

    def _checkout_create(self, p: dict) -> dict:
        session = self._new(
            "checkout.session", "cs_test", mode=p.get("mode"), customer=p.get("customer"), status="open",
            payment_status="unpaid", client_reference_id=p.get("client_reference_id"), metadata=p.get("metadata", {}),
            success_url=p.get("success_url"), cancel_url=p.get("cancel_url"), subscription=None, invoice=None,
            allow_promotion_codes=p.get("allow_promotion_codes") == "true", payment_intent=None, livemode=False,
        )
        session["url"] = f"{self.base_url}/checkout/{session['id']}"
        session["_line_items"] = p.get("line_items", [])
        session["_subscription_data"] = p.get("subscription_data", {})
        return _public(session)

    def _invoice_preview(self, p: dict) -> dict:
        subscription = self.get(p["subscription"])
        amount = sum(item["price"].get("unit_amount") or 0 for item in subscription["items"]["data"] if item.get("quantity"))
        return {"object": "invoice", "id": None, "customer": p["customer"], "amount_due": amount, "currency": "usd",
                "next_payment_attempt": subscription["items"]["data"][0]["current_period_end"], "lines": {"data": []}}

    # --- Stripe's side ------------------------------------------------------------------

    def price_by_lookup_key(self, lookup_key: str) -> dict:
        for obj in self.objects.values():
            if obj.get("object") == "price" and obj.get("lookup_key") == lookup_key:
                return obj
        raise NotFound(lookup_key)

    def _customer(self, **fields) -> dict:
        # The example customer has a discount; a new one has none, nor a shipping address.
        return self._new("customer", "cus", discount=None, shipping=None, **fields)

    def add_customer(self, **fields) -> dict:
        """A customer made elsewhere (the dashboard), unknown to the product."""
        with self._lock:
            return self._customer(email=fields.pop("email", "stranger@example.com"), metadata={}, **fields)

    def complete_checkout(self, session_id: str, *, status: str | None = None) -> list[dict]:
        """The customer pays: a subscription starts, its first invoice is paid."""
        with self._lock:
            session = self.get(session_id)
            trial_days = int((session["_subscription_data"] or {}).get("trial_period_days") or 0)
            status = status or ("trialing" if trial_days else "active")
            prices = [self.get(line["price"]) for line in session["_line_items"]]
            subscription = self._subscription(session["customer"], prices, status, session["_subscription_data"].get("metadata", {}))
            session.update(status="complete", payment_status="paid" if status == "active" else "no_payment_required",
                           subscription=subscription["id"])
            invoice = self._invoice(subscription, paid=True)
            session["invoice"] = invoice["id"]
            return [
                self.event("customer.subscription.created", subscription),
                self.event("invoice.finalized", invoice),
                self.event("invoice.paid", invoice),
                self.event("checkout.session.completed", _public(session)),
            ]

    def _subscription(self, customer: str, prices: list[dict], status: str, metadata: dict) -> dict:
        now = int(time.time())
        sub_id = f"sub_{secrets.token_hex(8)}"
        period_end = now + (365 if prices[0]["recurring"]["interval"] == "year" else 30) * DAY
        items = []
        for price in prices:
            item = copy.deepcopy(self.templates["subscription_item"])
            item.update(id=f"si_{secrets.token_hex(8)}", price=copy.deepcopy(price), subscription=sub_id, created=now,
                        current_period_start=now, current_period_end=period_end, plan=None, billing_thresholds=None,
                        quantity=None if price["recurring"]["usage_type"] == "metered" else 1)
            items.append(item)
        return self._new(
            "subscription", "sub", id=sub_id, customer=customer, status=status, metadata=metadata,
            items={"object": "list", "data": items, "has_more": False, "total_count": len(items), "url": f"/v1/subscription_items?subscription={sub_id}"},
            cancel_at=None, canceled_at=None, ended_at=None, cancel_at_period_end=False, start_date=now,
            trial_start=now if status == "trialing" else None, trial_end=period_end if status == "trialing" else None,
            latest_invoice=None, schedule=None, pending_update=None, pending_setup_intent=None, discounts=[],
            default_payment_method=None, default_source=None, test_clock=None, billing_cycle_anchor=now, livemode=False,
            billing_cycle_anchor_config=None, on_behalf_of=None, transfer_data=None, application=None,
        )

    def _invoice(self, subscription: dict, *, paid: bool) -> dict:
        amount = sum(item["price"].get("unit_amount") or 0 for item in subscription["items"]["data"] if item.get("quantity"))
        invoice = self._new(
            "invoice", "in", customer=subscription["customer"], status="paid" if paid else "open",
            number=f"FAKE-{len([o for o in self.objects.values() if o.get('object') == 'invoice']) + 1:04d}",
            amount_due=amount, amount_paid=amount if paid else 0, amount_remaining=0 if paid else amount,
            total=amount, subtotal=amount, currency="usd", livemode=False,
            parent={"type": "subscription_details", "quote_details": None,
                    "subscription_details": {"subscription": subscription["id"], "metadata": {}}},
            hosted_invoice_url=f"{self.base_url}/invoice/hosted", invoice_pdf=f"{self.base_url}/invoice/pdf",
            subscription=None, lines={"object": "list", "data": [], "has_more": False, "url": "/v1/invoices/lines"},
            charge=None, payment_intent=None, default_payment_method=None, default_source=None, discounts=[],
            account_tax_ids=None, test_clock=None, on_behalf_of=None, latest_revision=None, from_invoice=None,
            application=None, last_finalization_error=None, automatic_tax={"enabled": False, "liability": None, "status": None},
            attempted=True, attempt_count=1 if paid else 1, next_payment_attempt=None if paid else int(time.time()) + 3 * DAY,
            subscription_details=None, customer_address=None, customer_shipping=None, total_discount_amounts=[],
            total_tax_amounts=[], total_taxes=[], threshold_reason=None, transfer_data=None, rendering=None,
            shipping_cost=None, shipping_details=None, status_transitions={"finalized_at": int(time.time()), "marked_uncollectible_at": None, "paid_at": int(time.time()) if paid else None, "voided_at": None},
        )
        subscription["latest_invoice"] = invoice["id"]
        return invoice

    def change_plan(self, sub_id: str, lookup_key: str) -> dict:
        """A plan change in the portal: the flat price moves to another plan."""
        with self._lock:
            subscription = self.get(sub_id)
            previous = copy.deepcopy(subscription["items"])
            price = self.price_by_lookup_key(lookup_key)
            flat = next(i for i in subscription["items"]["data"] if i["price"]["recurring"]["usage_type"] == "licensed")
            flat["price"] = copy.deepcopy(price)
            return self.event("customer.subscription.updated", subscription, previous={"items": previous})

    def set_status(self, sub_id: str, status: str, **fields) -> dict:
        with self._lock:
            subscription = self.get(sub_id)
            previous = {"status": subscription["status"]}
            subscription.update(status=status, **fields)
            return self.event("customer.subscription.updated", subscription, previous=previous)

    def fail_payment(self, sub_id: str) -> list[dict]:
        """A renewal's card is declined: the invoice stays open and the subscription goes past due."""
        with self._lock:
            subscription = self.get(sub_id)
            invoice = self._invoice(subscription, paid=False)
            updated = self.set_status(sub_id, "past_due")
            return [self.event("invoice.finalized", invoice), self.event("invoice.payment_failed", invoice), updated]

    def cancel_subscription(self, sub_id: str) -> dict:
        with self._lock:
            subscription = self.get(sub_id)
            now = int(time.time())
            subscription.update(status="canceled", canceled_at=now, ended_at=now)
            return self.event("customer.subscription.deleted", subscription)

    def event(self, event_type: str, obj: dict, previous: dict | None = None) -> dict:
        """A Stripe event with a snapshot of ``obj`` as it is now."""
        with self._lock:
            event = self._new("event", "evt", type=event_type, api_version=API_VERSION, pending_webhooks=1,
                              data={"object": copy.deepcopy(obj)}, request={"id": None, "idempotency_key": None})
            if previous:
                event["data"]["previous_attributes"] = copy.deepcopy(previous)
            return event

    def deliver_to_endpoint(self, event: dict) -> requests.Response:
        """Posts the event to the registered webhook URL, signed, as Stripe does."""
        payload = json.dumps(event).encode()
        headers = {"Content-Type": "application/json", "Stripe-Signature": sign(payload, self.webhook_secret)}
        return requests.post(self.webhook_url, data=payload, headers=headers, timeout=10)


def _public(session: dict) -> dict:
    return {k: v for k, v in session.items() if not k.startswith("_")}


def _error(kind: str, message: str, code: str | None = None) -> dict:
    return {"error": {"type": kind, "message": message, "code": code}}


def events_of(events: Iterable[dict], event_type: str) -> list[dict]:
    return [e for e in events if e["type"] == event_type]
