"""Products, prices, invoice items and the invoice lifecycle through the real SDK, refusals included."""

from __future__ import annotations

import pytest
import stripe


@pytest.fixture
def customer(client: stripe.StripeClient) -> stripe.Customer:
    return client.v1.customers.create({"email": "billing@example.com"})


@pytest.fixture
def price(client: stripe.StripeClient) -> stripe.Price:
    product = client.v1.products.create({"name": "Seat", "metadata": {"sku": "seat"}})
    return client.v1.prices.create({"product": product.id, "currency": "usd", "unit_amount": 1500})


def test_products_and_prices(client: stripe.StripeClient, price: stripe.Price) -> None:
    assert client.v1.prices.retrieve(price.id).unit_amount == 1500
    assert client.v1.products.retrieve(price.product).name == "Seat"
    inline = client.v1.prices.create({"product_data": {"name": "Setup"}, "currency": "EUR", "unit_amount": 99,
                                      "recurring": {"interval": "month"}})
    assert (inline.currency, inline.type, inline.recurring.interval) == ("eur", "recurring", "month")
    assert [p.id for p in client.v1.prices.list({"product": price.product}).data] == [price.id]
    assert len(client.v1.products.list().data) == 2
    renamed = client.v1.products.update(price.product, {"name": "Seat v2"})
    assert renamed.name == "Seat v2" and renamed.metadata.to_dict() == {"sku": "seat"}


def test_pending_items_are_excluded_by_default(client: stripe.StripeClient, customer: stripe.Customer) -> None:
    pending = client.v1.invoice_items.create({"customer": customer.id, "amount": 300, "currency": "usd"})
    excluded = client.v1.invoices.create({"customer": customer.id})
    assert (excluded.total, excluded.lines.data) == (0, [])
    included = client.v1.invoices.create({"customer": customer.id, "pending_invoice_items_behavior": "include"})
    assert included.total == 300 and client.v1.invoice_items.retrieve(pending.id).invoice == included.id


def test_draft_totals_follow_items(client: stripe.StripeClient, customer: stripe.Customer,
                                   price: stripe.Price) -> None:
    draft = client.v1.invoices.create({"customer": customer.id, "collection_method": "send_invoice",
                                       "days_until_due": 30})
    assert draft.status == "draft" and draft.number is None and draft.due_date == draft.created + 30 * 86400
    item = client.v1.invoice_items.create({"customer": customer.id, "invoice": draft.id,
                                           "pricing": {"price": price.id}, "quantity": 2})
    assert item.amount == 3000 and item.pricing.price_details.price == price.id
    withlines = client.v1.invoices.add_lines(draft.id, {"lines": [{"amount": 250, "description": "Setup"}]})
    assert (withlines.subtotal, withlines.total, withlines.amount_due, withlines.amount_remaining) == \
        (3250, 3250, 3250, 3250)
    assert [line.parent.invoice_item_details.invoice_item for line in withlines.lines.data][0] == item.id

    client.v1.invoice_items.update(item.id, {"quantity": 3})
    assert client.v1.invoices.retrieve(draft.id).total == 4750
    client.v1.invoice_items.delete(item.id)
    assert client.v1.invoices.retrieve(draft.id).total == 250
    assert [i.invoice for i in client.v1.invoice_items.list({"customer": customer.id}).data] == [draft.id]


def test_lines_page_beyond_the_embedded_ten(client: stripe.StripeClient, customer: stripe.Customer) -> None:
    draft = client.v1.invoices.create({"customer": customer.id})
    client.v1.invoices.add_lines(draft.id, {"lines": [{"amount": i + 1} for i in range(12)]})
    invoice = client.v1.invoices.retrieve(draft.id)
    assert len(invoice.lines.data) == 10 and invoice.lines.has_more and invoice.total == sum(range(1, 13))
    assert [line.amount for line in client.v1.invoices.line_items.list(draft.id).auto_paging_iter()] == \
        list(range(1, 13))


def test_lifecycle_finalize_pay(client: stripe.StripeClient, customer: stripe.Customer) -> None:
    draft = client.v1.invoices.create({"customer": customer.id})
    client.v1.invoice_items.create({"customer": customer.id, "invoice": draft.id, "amount": 1000})
    opened = client.v1.invoices.finalize_invoice(draft.id)
    prefix = client.v1.customers.retrieve(customer.id).invoice_prefix
    assert (opened.status, opened.number) == ("open", f"{prefix}-0001")
    assert opened.status_transitions.finalized_at is not None
    paid = client.v1.invoices.pay(draft.id, {"paid_out_of_band": True})
    assert (paid.status, paid.amount_paid, paid.amount_remaining) == ("paid", 1000, 0)
    second = client.v1.invoices.create({"customer": customer.id})
    client.v1.invoices.add_lines(second.id, {"lines": [{"amount": 5}]})
    assert client.v1.invoices.finalize_invoice(second.id).number == f"{prefix}-0002"
    assert [i.id for i in client.v1.invoices.list({"customer": customer.id, "status": "paid"}).data] == [draft.id]


def test_card_payments_use_stripe_test_payment_methods(client: stripe.StripeClient,
                                                       customer: stripe.Customer) -> None:
    invoice = client.v1.invoices.create({"customer": customer.id})
    client.v1.invoices.add_lines(invoice.id, {"lines": [{"amount": 700}]})
    with pytest.raises(stripe.CardError) as declined:
        client.v1.invoices.pay(invoice.id, {"payment_method": "pm_card_chargeDeclined"})
    assert (declined.value.http_status, declined.value.code) == (402, "card_declined")
    after_decline = client.v1.invoices.retrieve(invoice.id)
    assert (after_decline.status, after_decline.attempt_count) == ("open", 1)  # the draft was finalized first
    assert client.v1.invoices.pay(invoice.id, {"payment_method": "pm_card_visa"}).status == "paid"


def test_zero_amount_invoice_is_paid_on_finalization(client: stripe.StripeClient, customer) -> None:
    invoice = client.v1.invoices.create({"customer": customer.id})
    assert client.v1.invoices.finalize_invoice(invoice.id).status == "paid"


def test_void_and_uncollectible(client: stripe.StripeClient, customer: stripe.Customer) -> None:
    invoices = []
    for _ in range(2):
        draft = client.v1.invoices.create({"customer": customer.id})
        client.v1.invoices.add_lines(draft.id, {"lines": [{"amount": 100}]})
        invoices.append(client.v1.invoices.finalize_invoice(draft.id))
    assert client.v1.invoices.void_invoice(invoices[0].id).status == "void"
    uncollectible = client.v1.invoices.mark_uncollectible(invoices[1].id)
    assert uncollectible.status == "uncollectible"
    assert client.v1.invoices.void_invoice(invoices[1].id).status_transitions.voided_at is not None


@pytest.mark.parametrize("action", ["delete", "add_item", "update_item", "delete_item", "finalize",
                                    "mark_uncollectible", "change_collection"])
def test_finalized_invoices_refuse_draft_only_operations(client: stripe.StripeClient, customer: stripe.Customer,
                                                          action: str) -> None:
    draft = client.v1.invoices.create({"customer": customer.id})
    item = client.v1.invoice_items.create({"customer": customer.id, "invoice": draft.id, "amount": 100})
    invoice = client.v1.invoices.finalize_invoice(draft.id)
    client.v1.invoices.void_invoice(invoice.id)
    attempts = {
        "delete": lambda: client.v1.invoices.delete(invoice.id),
        "add_item": lambda: client.v1.invoice_items.create({"customer": customer.id, "invoice": invoice.id,
                                                            "amount": 5}),
        "update_item": lambda: client.v1.invoice_items.update(item.id, {"amount": 5}),
        "delete_item": lambda: client.v1.invoice_items.delete(item.id),
        "finalize": lambda: client.v1.invoices.finalize_invoice(invoice.id),
        "mark_uncollectible": lambda: client.v1.invoices.mark_uncollectible(invoice.id),
        "change_collection": lambda: client.v1.invoices.update(invoice.id, {"collection_method": "send_invoice",
                                                                            "days_until_due": 3}),
    }
    with pytest.raises(stripe.InvalidRequestError) as refused:
        attempts[action]()
    assert (refused.value.http_status, refused.value.code) == (400, "invoice_not_editable")
    assert client.v1.invoices.retrieve(invoice.id).total == 100  # nothing changed


def test_delete_draft_returns_items_to_pending(client: stripe.StripeClient, customer: stripe.Customer) -> None:
    draft = client.v1.invoices.create({"customer": customer.id})
    item = client.v1.invoice_items.create({"customer": customer.id, "invoice": draft.id, "amount": 100})
    assert client.v1.invoices.delete(draft.id).deleted is True
    assert client.v1.invoice_items.retrieve(item.id).invoice is None
    with pytest.raises(stripe.InvalidRequestError) as gone:
        client.v1.invoices.retrieve(draft.id)
    assert gone.value.code == "resource_missing"


def test_void_a_draft_is_refused(client: stripe.StripeClient, customer: stripe.Customer) -> None:
    draft = client.v1.invoices.create({"customer": customer.id})
    with pytest.raises(stripe.InvalidRequestError) as refused:
        client.v1.invoices.void_invoice(draft.id)
    assert refused.value.code == "invoice_not_editable" and "draft" in refused.value.user_message


def test_invoice_search_and_created_filter(client: stripe.StripeClient, customer: stripe.Customer, clock) -> None:
    first = client.v1.invoices.create({"customer": customer.id, "metadata": {"zid": "inv-1"}})
    clock.advance(10)
    second = client.v1.invoices.create({"customer": customer.id})
    found = client.v1.invoices.search({"query": f"customer:'{customer.id}' AND metadata['zid']:'inv-1'"})
    assert [i.id for i in found.data] == [first.id]
    assert [i.id for i in client.v1.invoices.list({"created": {"gt": first.created}}).data] == [second.id]


def test_expand_customer_on_retrieve_and_list(client: stripe.StripeClient, customer: stripe.Customer) -> None:
    invoice = client.v1.invoices.create({"customer": customer.id})
    assert client.v1.invoices.retrieve(invoice.id, {"expand": ["customer"]}).customer.email == customer.email
    listed = client.v1.invoices.list({"expand": ["data.customer"]})
    assert listed.data[0].customer.id == customer.id
