"""Contract: every object the Stripe sandbox serves keeps Stripe's published contract (contract.py): every field
Stripe declares is there with its type, no undocumented field.

The scenario below calls every API route the sandbox has through the real SDK; the test is parametrized over the
sandbox's routes as its router lists them, so a route added later (a new resource) shows up here as a case of
its own, failing until the scenario calls it. Every other test of this folder is checked too, reply by reply
(conftest.py), so the objects their tests create are held to the same contract.
"""

from __future__ import annotations

from typing import Any, Callable, Iterator

import pytest
import stripe

from zensync_pipelines.sandbox.stripe import ManualClock, StripeSandbox

from .conftest import KEY, Served, record
from .contract import fixtures, objects_in, problems

Step = Callable[[stripe.StripeClient, dict[str, Any]], Any]


def _platform_and_connected(c: stripe.StripeClient, ids: dict[str, Any]) -> None:
    account = c.v1.accounts.create({"type": "custom", "country": "FR", "email": "contract@example.com"})
    ids["account"] = account.id
    c.v1.accounts.update(account.id, {"metadata": {"tenant": "t1"}})
    c.v1.accounts.retrieve(account.id)
    c.v1.accounts.list()
    c.v1.accounts.retrieve_current()


def _customers(c: stripe.StripeClient, ids: dict[str, Any]) -> None:
    customer = c.v1.customers.create({"email": "contract@example.com", "name": "Contract Co",
                                      "address": {"city": "Pune", "country": "IN"}, "metadata": {"zenskar_id": "1"}})
    ids["customer"] = customer.id
    c.v1.customers.update(customer.id, {"phone": "+91 1"})
    c.v1.customers.retrieve(customer.id, {"expand": ["test_clock"]})
    c.v1.customers.list({"limit": 3})
    c.v1.customers.search({"query": "metadata['zenskar_id']:'1'"})


def _catalog(c: stripe.StripeClient, ids: dict[str, Any]) -> None:
    product = c.v1.products.create({"name": "Contract", "description": "A plan"})
    price = c.v1.prices.create({"product": product.id, "currency": "usd", "unit_amount": 900,
                                "recurring": {"interval": "month"}, "nickname": "Contract (monthly)"})
    ids["one_time_price"] = c.v1.prices.create({"product": product.id, "currency": "usd", "unit_amount": 500}).id
    c.v1.products.update(product.id, {"default_price": price.id})
    c.v1.prices.update(price.id, {"nickname": "Monthly"})
    c.v1.products.retrieve(product.id)
    c.v1.prices.retrieve(price.id, {"expand": ["product"]})
    c.v1.products.list()
    c.v1.prices.list({"product": product.id})
    ids["price"] = price.id


def _invoices(c: stripe.StripeClient, ids: dict[str, Any]) -> None:
    customer = ids["customer"]
    draft = c.v1.invoices.create({"customer": customer, "collection_method": "send_invoice", "days_until_due": 30})
    item = c.v1.invoice_items.create({"customer": customer, "invoice": draft.id,
                                      "pricing": {"price": ids["one_time_price"]}})
    pending = c.v1.invoice_items.create({"customer": customer, "amount": 300, "currency": "usd"})
    c.v1.invoice_items.update(item.id, {"quantity": 2})
    c.v1.invoice_items.retrieve(item.id)
    c.v1.invoice_items.list({"customer": customer})
    c.v1.invoice_items.delete(pending.id)
    c.v1.invoices.add_lines(draft.id, {"lines": [{"amount": 250, "description": "Setup"}]})
    lines = c.v1.invoices.line_items.list(draft.id)
    c.v1.invoices.remove_lines(draft.id, {"lines": [{"id": lines.data[-1].id, "behavior": "delete"}]})
    c.v1.invoices.update(draft.id, {"description": "Contract", "metadata": {"number": "7"}})
    c.v1.invoices.retrieve(draft.id, {"expand": ["customer"]})
    c.v1.invoices.finalize_invoice(draft.id)
    c.v1.invoices.pay(draft.id, {"payment_method": "pm_card_visa"})
    for act in ("void_invoice", "mark_uncollectible"):
        other = c.v1.invoices.create({"customer": customer})
        c.v1.invoice_items.create({"customer": customer, "invoice": other.id, "amount": 100, "currency": "usd"})
        c.v1.invoices.finalize_invoice(other.id)
        getattr(c.v1.invoices, act)(other.id)
    out_of_band = c.v1.invoices.create({"customer": customer})
    c.v1.invoice_items.create({"customer": customer, "invoice": out_of_band.id, "amount": 100, "currency": "usd"})
    c.v1.invoices.pay(out_of_band.id, {"paid_out_of_band": True})
    c.v1.invoices.list({"customer": customer})
    c.v1.invoices.search({"query": f"customer:'{customer}'"})
    c.v1.invoices.delete(c.v1.invoices.create({"customer": customer}).id)


def _subscriptions(c: stripe.StripeClient, ids: dict[str, Any]) -> None:
    customer, price = ids["customer"], ids["price"]
    sub = c.v1.subscriptions.create({"customer": customer, "items": [{"price": price, "quantity": 2}],
                                     "collection_method": "send_invoice", "days_until_due": 30,
                                     "metadata": {"zenskar_id": "s1"}})
    ids["subscription_invoice"] = sub.latest_invoice
    c.v1.subscriptions.update(sub.id, {"items": [{"id": sub.items.data[0].id, "quantity": 3}]})
    c.v1.subscriptions.update(sub.id, {"cancel_at_period_end": True})
    c.v1.subscriptions.retrieve(sub.id, {"expand": ["latest_invoice"]})
    c.v1.subscriptions.list({"customer": customer, "status": "all"})
    c.v1.subscriptions.search({"query": "metadata['zenskar_id']:'s1'"})
    c.v1.subscriptions.cancel(sub.id)


def _subscription_items(c: stripe.StripeClient, ids: dict[str, Any]) -> None:
    """A trialing subscription's items listed, added, changed and deleted; prorations once the trial is over, billed
    at once (so their invoice items and lines are checked too)."""
    customer, price = ids["customer"], ids["price"]
    seats = c.v1.prices.create({"product": c.v1.prices.retrieve(price).product, "currency": "usd",
                                "unit_amount": 300, "recurring": {"interval": "month"}})
    sub = c.v1.subscriptions.create({"customer": customer, "items": [{"price": price}], "trial_period_days": 7,
                                     "collection_method": "send_invoice", "days_until_due": 30})
    c.v1.subscription_items.list({"subscription": sub.id})
    added = c.v1.subscription_items.create({"subscription": sub.id, "price": seats.id, "quantity": 2})
    c.v1.subscription_items.retrieve(added.id)
    c.v1.subscriptions.update(sub.id, {"trial_end": "now"})
    c.v1.subscription_items.update(added.id, {"quantity": 4, "proration_behavior": "always_invoice"})
    c.v1.subscription_items.update(added.id, {"quantity": 5})  # a pending proration item pair
    c.v1.invoice_items.list({"customer": customer, "pending": True})
    c.v1.subscription_items.delete(added.id, {"proration_behavior": "none"})
    c.v1.subscriptions.cancel(sub.id)


def _payments(c: stripe.StripeClient, ids: dict[str, Any]) -> None:
    """An invoice paid by card: its PaymentIntent, Charge and InvoicePayment, then refunds of the charge."""
    invoice = c.v1.invoices.pay(ids["subscription_invoice"], {"payment_method": "pm_card_visa"})
    intents = c.v1.payment_intents.list({"customer": ids["customer"]})
    intent = intents.data[0]
    c.v1.payment_intents.retrieve(intent.id)
    charges = c.v1.charges.list({"payment_intent": intent.id})
    charge = c.v1.charges.retrieve(charges.data[0].id)
    assert "refunds" not in charge  # Stripe leaves a charge's refunds out unless expanded
    paid = c.v1.invoice_payments.list({"invoice": invoice.id})
    c.v1.invoice_payments.retrieve(paid.data[0].id)
    part = c.v1.refunds.create({"charge": charge.id, "amount": 100, "reason": "requested_by_customer"})
    c.v1.refunds.create({"payment_intent": intent.id, "metadata": {"why": "rest"}})
    c.v1.refunds.retrieve(part.id)
    c.v1.refunds.list({"charge": charge.id})
    refunded = c.v1.charges.retrieve(charge.id, {"expand": ["refunds"]})  # checked with its refunds embedded
    assert [r.amount for r in refunded.refunds.data] == [charge.amount - 100, 100]
    c.v1.charges.list({"customer": ids["customer"], "expand": ["data.refunds"]})
    declined = c.v1.invoices.create({"customer": ids["customer"]})
    c.v1.invoice_items.create({"customer": ids["customer"], "invoice": declined.id, "amount": 700, "currency": "usd"})
    c.v1.invoices.finalize_invoice(declined.id)
    with pytest.raises(stripe.CardError):
        c.v1.invoices.pay(declined.id, {"payment_method": "pm_card_chargeDeclined"})
    failed = c.v1.payment_intents.list({"customer": ids["customer"]}).data[0]  # its last_payment_error checked
    assert failed.last_payment_error.payment_method.card.last4 == "0002"
    c.v1.payment_intents.retrieve(failed.id)


def _notifications(c: stripe.StripeClient, ids: dict[str, Any]) -> None:
    endpoint = c.v1.webhook_endpoints.create({"url": "http://127.0.0.1:9/x", "enabled_events": ["*"]})
    c.v1.webhook_endpoints.update(endpoint.id, {"enabled_events": ["customer.created", "invoice.paid"]})
    c.v1.webhook_endpoints.retrieve(endpoint.id)
    c.v1.webhook_endpoints.list()
    c.v1.webhook_endpoints.delete(endpoint.id)
    events = c.v1.events.list({"limit": 100})
    for event in events.data:
        c.v1.events.retrieve(event.id)


def _deletions(c: stripe.StripeClient, ids: dict[str, Any]) -> None:
    c.v1.customers.delete(c.v1.customers.create({"email": "gone@example.com"}).id)
    c.v1.accounts.delete(ids["account"])


# In order: later steps use what earlier ones made. A new route gets a step (or a call in one) here.
SCENARIO: list[Step] = [_platform_and_connected, _customers, _catalog, _invoices, _subscriptions,
                        _subscription_items, _payments, _notifications, _deletions]


def _routes() -> list[str]:
    sb = StripeSandbox(rate_limit=None)
    return sorted(f"{method} {pattern}" for method, _, pattern, _ in sb.router._routes
                  if pattern.startswith("/v1/"))


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    with StripeSandbox(rate_limit=None, clock=ManualClock()) as sb:
        replies = record(sb)
        client = stripe.StripeClient(KEY, base_addresses={"api": sb.url}, max_network_retries=0)
        ids: dict[str, Any] = {}
        for step in SCENARIO:
            step(client, ids)
        yield replies


@pytest.mark.parametrize("route", _routes())
def test_every_route_serves_objects_that_keep_stripes_contract(route: str, served: Served) -> None:
    replies = [(status, body) for served_route, status, body in served if served_route == route]
    assert replies, f"the contract scenario never calls {route}: add a call to SCENARIO"
    assert any(status < 300 for status, _ in replies), f"{route} never succeeded: {replies[:1]}"
    found = [p for status, body in replies if status < 300 for p in problems(body, route)]
    assert not found, "\n".join(sorted(set(found)))


def test_every_kind_of_object_is_served_and_checked(served: Served) -> None:
    """The object kinds the scenario met: each one Stripe has, each one checked (not only the top-level ones)."""
    kinds = {obj["object"] for _, status, body in served if status < 300 for _, obj in objects_in(body)}
    assert {"account", "customer", "product", "price", "invoice", "invoiceitem", "line_item", "event",
            "webhook_endpoint", "subscription", "subscription_item", "payment_intent", "charge", "refund",
            "invoice_payment"} <= kinds, sorted(kinds)


def test_an_events_object_is_checked_as_its_resource() -> None:
    event = {**fixtures()["event"], "data": {"object": {**fixtures()["customer"], "surprise": 1}}}
    assert any("data.object.surprise: undocumented field" in p for p in problems(event))


@pytest.mark.parametrize("broken, expected", [
    ({"amount_paid_off_stripe": None}, None),
    ({}, "amount_paid_off_stripe: missing"),
    ({"amount_paid_off_stripe": None, "surprise": 1}, "surprise: undocumented field"),
    ({"amount_paid_off_stripe": "12"}, "amount_paid_off_stripe: expected an integer"),
    ({"amount_paid_off_stripe": None, "status": 3}, "status: 3 is not one of"),
    ({"amount_paid_off_stripe": None, "automatic_tax": {"enabled": "yes"}}, "automatic_tax.enabled: expected a"),
    ({"amount_paid_off_stripe": None, "lines": {"object": "list", "data": [{"object": "line_item"}],
                                                "has_more": False, "url": "/v1/invoices/in_1/lines"}},
     "lines.data[0].amount: missing"),
    ({"amount_paid_off_stripe": None, "created": None}, "created: null, but Stripe declares it never null"),
])
def test_the_contract_catches_what_it_claims_to(broken: dict[str, Any], expected: str | None) -> None:
    """The check itself: Stripe's own example invoice keeps it, and each kind of break is reported."""
    invoice = {**fixtures()["invoice"], **broken}
    invoice.pop("subscription")  # in the example, no longer in the API version the SDK speaks
    if "amount_paid_off_stripe" not in broken:
        invoice.pop("amount_paid_off_stripe", None)
    found = problems(invoice)
    if expected is None:
        assert found == []
    else:
        assert any(expected in p for p in found), found
