"""What a check against Stripe's published API found (issue 29): `amount_paid_off_stripe` on invoices, no
`invoiceitem.updated` event, and webhook endpoints that refuse event types Stripe does not have."""

from __future__ import annotations

import json
import pathlib
import re
import typing

import pytest
import stripe
from stripe.params._webhook_endpoint_create_params import WebhookEndpointCreateParams

import zensync_pipelines.sandbox.stripe as sandbox_package
from zensync_pipelines.catalogs import load_specs
from zensync_pipelines.cli.dev_receiver import register_endpoint
from zensync_pipelines.engine.spec import inbound_routes
from zensync_pipelines.sandbox.stripe import StripeSandbox
from zensync_pipelines.sandbox.stripe.resources.notifications import EVENT_TYPES
from zensync_pipelines.systems.stripe.inbound import event_types

from .conftest import KEY


def _draft_with_item(client: stripe.StripeClient) -> tuple[stripe.Invoice, stripe.InvoiceItem]:
    customer = client.v1.customers.create({"email": "api@example.com"})
    invoice = client.v1.invoices.create({"customer": customer.id})
    item = client.v1.invoice_items.create({"customer": customer.id, "invoice": invoice.id, "amount": 700,
                                           "currency": "usd"})
    return invoice, item


def test_invoice_carries_amount_paid_off_stripe_null_until_paid_out_of_band(client: stripe.StripeClient) -> None:
    invoice, _ = _draft_with_item(client)
    assert "amount_paid_off_stripe" in invoice and invoice.amount_paid_off_stripe is None
    paid = client.v1.invoices.pay(invoice.id, {"paid_out_of_band": True})
    assert paid.amount_paid == 700 and paid.amount_paid_off_stripe == 700


def test_a_card_payment_is_not_paid_off_stripe(client: stripe.StripeClient) -> None:
    invoice, _ = _draft_with_item(client)
    paid = client.v1.invoices.pay(invoice.id, {"payment_method": "pm_card_visa"})
    assert paid.amount_paid == 700 and paid.amount_paid_off_stripe is None


def test_updating_an_invoice_item_emits_no_invoiceitem_updated(client: stripe.StripeClient) -> None:
    invoice, item = _draft_with_item(client)
    client.v1.invoice_items.update(item.id, {"amount": 900})
    types = [event.type for event in client.v1.events.list({"limit": 100}).data]
    assert "invoiceitem.updated" not in types
    updated = [e for e in client.v1.events.list({"type": "invoice.updated"}).data if e.data.object.id == invoice.id]
    assert updated and updated[0].data.previous_attributes["amount_due"] == 700  # the change shows on the invoice


@pytest.mark.parametrize("events", [["invoiceitem.updated"], ["customer.created", "customer.maybe"], ["invoice.*"]])
def test_webhook_endpoint_refuses_unknown_event_types(client: stripe.StripeClient, events: list[str]) -> None:
    with pytest.raises(stripe.InvalidRequestError) as caught:
        client.v1.webhook_endpoints.create({"url": "https://example.com/hook", "enabled_events": events})
    bad = next(i for i, name in enumerate(events) if name not in EVENT_TYPES)
    assert caught.value.http_status == 400
    assert caught.value.error.type == "invalid_request_error"
    assert caught.value.error.param == f"enabled_events[{bad}]"
    assert caught.value.user_message.startswith(f"Invalid enabled_events[{bad}]: must be one of *,")
    assert not client.v1.webhook_endpoints.list().data  # nothing was created


def test_webhook_endpoint_update_refuses_unknown_event_types(client: stripe.StripeClient) -> None:
    endpoint = client.v1.webhook_endpoints.create({"url": "https://example.com/hook",
                                                   "enabled_events": ["customer.created"]})
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.webhook_endpoints.update(endpoint.id, {"enabled_events": ["customer.created", "nope"]})
    assert client.v1.webhook_endpoints.retrieve(endpoint.id).enabled_events == ["customer.created"]
    updated = client.v1.webhook_endpoints.update(endpoint.id, {"enabled_events": ["*"]})
    assert updated.enabled_events == ["*"]


def test_the_sandboxs_event_types_are_the_sdks() -> None:
    """event_types.json is copied from the stripe SDK's models; an SDK upgrade that changes them fails here, so
    the file is refreshed with it."""
    literal = typing.get_args(WebhookEndpointCreateParams.__annotations__["enabled_events"])[0]
    assert EVENT_TYPES == set(typing.get_args(literal))


def test_every_event_the_sandbox_emits_is_a_stripe_event_type() -> None:
    """Scan the sandbox's sources for the event types it emits: each must be one Stripe has."""
    root = pathlib.Path(sandbox_package.__file__).parent
    emitted = set()
    for path in root.rglob("*.py"):
        emitted |= set(re.findall(r'emit\([^,]+, "([a-z_.]+)"', path.read_text()))
    assert emitted and "customer.created" in emitted
    assert emitted <= EVENT_TYPES, sorted(emitted - EVENT_TYPES)
    assert json.loads((root / "event_types.json").read_text())["types"]


def test_every_event_type_zensync_reads_is_accepted_and_zensync_dev_registers_its_endpoints(
        sandbox: StripeSandbox, client: stripe.StripeClient) -> None:
    """The endpoint `zensync dev` registers subscribes to every event type a spec reads (subscriptions' and
    payments' too); the sandbox must accept each, or dev would fail at start. Run twice: the second run replaces
    the first's endpoints."""
    wanted = event_types(sorted(inbound_routes(load_specs(), "stripe")))
    assert {"customer.subscription.created", "customer.subscription.updated", "customer.subscription.deleted",
            "charge.succeeded", "charge.refunded"} <= set(wanted)
    url = "http://127.0.0.1:9/webhooks/stripe"
    for _ in range(2):
        secrets = register_endpoint(KEY, sandbox.url, url)
        assert len(secrets) == 2 and all(s.startswith("whsec_") for s in secrets)
    endpoints = client.v1.webhook_endpoints.list().data
    assert [(e.url, e.enabled_events) for e in endpoints] == [(url, wanted)] * 2


def test_an_endpoint_may_subscribe_to_every_event_the_sandbox_emits(client: stripe.StripeClient) -> None:
    """Every event the payments and subscriptions objects produce (charge.*, payment_intent.*,
    invoice_payment.paid, refund.created, customer.subscription.*) is a type an endpoint may name."""
    customer = client.v1.customers.create({"email": "events@example.com"})
    product = client.v1.products.create({"name": "Events"})
    price = client.v1.prices.create({"product": product.id, "currency": "usd", "unit_amount": 900,
                                     "recurring": {"interval": "month"}})
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id}],
                                          "collection_method": "send_invoice", "days_until_due": 30})
    client.v1.subscriptions.update(sub.id, {"items": [{"id": sub.items.data[0].id, "quantity": 2}]})
    invoice = client.v1.invoices.pay(sub.latest_invoice, {"payment_method": "pm_card_visa"})
    charge = client.v1.charges.list({"customer": customer.id}).data[0]
    client.v1.refunds.create({"charge": charge.id, "amount": 1})
    client.v1.subscriptions.cancel(sub.id)
    emitted = sorted({e.type for e in client.v1.events.list({"limit": 100}).auto_paging_iter()})
    assert {"payment_intent.succeeded", "charge.succeeded", "charge.refunded", "invoice_payment.paid",
            "refund.created", "customer.subscription.deleted"} <= set(emitted), (invoice.status, emitted)
    endpoint = client.v1.webhook_endpoints.create({"url": "https://example.com/hook", "enabled_events": emitted})
    assert endpoint.enabled_events == emitted
