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
from zensync_pipelines.sandbox.stripe.resources.notifications import EVENT_TYPES


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
