"""Subscriptions through the real SDK: create with its first invoice, item moves, quantity, cancel at period end
or now, lists, events with previous_attributes, Stripe's own clock, refusals, and the fixtures' shape."""

from __future__ import annotations

import json

import pytest
import requests
import stripe

from zensync_pipelines_tests.conftest import SHARED_REFERENCE

DAY = 86400


@pytest.fixture
def customer(client: stripe.StripeClient) -> stripe.Customer:
    return client.v1.customers.create({"email": "subs@example.com", "name": "Subs"})


@pytest.fixture
def prices(client: stripe.StripeClient) -> dict[str, stripe.Price]:
    product = client.v1.products.create({"name": "Pro"})
    made = {interval: client.v1.prices.create({"product": product.id, "currency": "usd", "unit_amount": amount,
                                               "recurring": {"interval": interval}, "nickname": f"Pro {interval}"})
            for interval, amount in (("month", 1000), ("year", 10000))}
    other = client.v1.products.create({"name": "Team"})
    made["team"] = client.v1.prices.create({"product": other.id, "currency": "usd", "unit_amount": 2500,
                                            "recurring": {"interval": "month"}})
    return made


def subscribe(client: stripe.StripeClient, customer: stripe.Customer, price: stripe.Price, quantity: int = 1,
              **extra: object) -> stripe.Subscription:
    return client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": price.id,
                                                                               "quantity": quantity}],
                                           "collection_method": "send_invoice", "days_until_due": 14,
                                           "metadata": {"zenskar_id": "7"}, **extra})


def test_send_invoice_subscription_is_active_with_an_open_first_invoice(client, customer, prices) -> None:
    sub = subscribe(client, customer, prices["month"], quantity=3)
    assert (sub.status, sub.collection_method, sub.days_until_due, sub.currency) == \
        ("active", "send_invoice", 14, "usd")
    [item] = sub.items.data
    assert (item.price.id, item.quantity, item.subscription) == (prices["month"].id, 3, sub.id)
    assert item.current_period_end > item.current_period_start == sub.start_date
    invoice = client.v1.invoices.retrieve(sub.latest_invoice)
    assert (invoice.status, invoice.total, invoice.billing_reason, invoice.collection_method) == \
        ("open", 3000, "subscription_create", "send_invoice")
    assert invoice.due_date == invoice.created + 14 * DAY and invoice.number is not None
    assert invoice.parent.subscription_details.subscription == sub.id
    [line] = invoice.lines.data
    assert (line.parent.type, line.parent.subscription_item_details.subscription_item, line.quantity) == \
        ("subscription_item_details", item.id, 3)
    assert client.v1.customers.retrieve(customer.id).currency == "usd"  # the first subscription sets it
    # The invoice is an ordinary open invoice: a card pays it.
    assert client.v1.invoices.pay(invoice.id, {"payment_method": "pm_card_visa"}).status == "paid"


def test_charge_automatically_without_a_card_is_incomplete(client, customer, prices) -> None:
    sub = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": prices["month"].id}]})
    assert sub.status == "incomplete" and sub.days_until_due is None
    assert client.v1.invoices.retrieve(sub.latest_invoice).status == "open"


def test_create_is_idempotent_under_its_key(client, customer, prices) -> None:
    params = {"customer": customer.id, "items": [{"price": prices["month"].id}], "collection_method": "send_invoice",
              "days_until_due": 7}
    first = client.v1.subscriptions.create(params, {"idempotency_key": "zensync-sub-1"})
    again = client.v1.subscriptions.create(params, {"idempotency_key": "zensync-sub-1"})
    assert first.id == again.id
    assert [s.id for s in client.v1.subscriptions.list({"customer": customer.id}).data] == [first.id]
    assert len(client.v1.invoices.list({"customer": customer.id}).data) == 1


def test_price_change_moves_the_item_without_a_second_one(client, customer, prices) -> None:
    sub = subscribe(client, customer, prices["month"])
    item = sub.items.data[0]
    moved = client.v1.subscriptions.update(sub.id, {"items": [{"id": item.id, "price": prices["team"].id,
                                                               "quantity": 4}],
                                                    "proration_behavior": "none"})
    assert [(i.id, i.price.id, i.quantity) for i in moved.items.data] == [(item.id, prices["team"].id, 4)]
    assert moved.latest_invoice == sub.latest_invoice  # same interval: the period goes on, nothing billed now
    event = client.v1.events.list({"type": "customer.subscription.updated", "limit": 1}).data[0]
    assert event.data.object.id == sub.id and "items" in event.data.previous_attributes
    assert event.data.previous_attributes["items"]["data"][0]["price"]["id"] == prices["month"].id


def test_interval_change_starts_and_invoices_a_new_period(client, customer, prices, clock) -> None:
    sub = subscribe(client, customer, prices["month"], quantity=2)
    clock.advance(5 * DAY)
    moved = client.v1.subscriptions.update(sub.id, {"items": [{"id": sub.items.data[0].id,
                                                               "price": prices["year"].id}]})
    item = moved.items.data[0]
    assert item.current_period_start == sub.start_date + 5 * DAY and moved.latest_invoice != sub.latest_invoice
    assert item.current_period_end - item.current_period_start >= 365 * DAY
    invoice = client.v1.invoices.retrieve(moved.latest_invoice)
    # The new year in full, less the credit for the month's unused time (create_prorations, the default).
    credit = round(2000 * (sub.items.data[0].current_period_end - item.current_period_start) /
                   (sub.items.data[0].current_period_end - sub.items.data[0].current_period_start))
    assert (invoice.billing_reason, invoice.total, invoice.status) == ("subscription_update", 20000 - credit, "open")
    assert [line.amount for line in invoice.lines.data] == [20000, -credit]
    back = client.v1.subscriptions.update(sub.id, {"items": [{"id": item.id, "price": prices["month"].id}],
                                                   "proration_behavior": "none"})
    assert client.v1.invoices.retrieve(back.latest_invoice).total == 2000  # no credit: the month in full


def test_quantity_only_update_keeps_the_price(client, customer, prices) -> None:
    sub = subscribe(client, customer, prices["month"])
    updated = client.v1.subscriptions.update(sub.id, {"items": [{"id": sub.items.data[0].id, "quantity": 9}]})
    assert (updated.items.data[0].price.id, updated.items.data[0].quantity) == (prices["month"].id, 9)


def test_cancel_at_period_end_then_the_period_ends(client, customer, prices, sandbox) -> None:
    sub = subscribe(client, customer, prices["month"])
    flagged = client.v1.subscriptions.update(sub.id, {"cancel_at_period_end": True})
    end = flagged.items.data[0].current_period_end
    assert (flagged.status, flagged.cancel_at_period_end, flagged.cancel_at) == ("active", True, end)
    assert flagged.canceled_at is not None  # the time of the request, as Stripe records it
    undone = client.v1.subscriptions.update(sub.id, {"cancel_at_period_end": False})
    assert (undone.cancel_at_period_end, undone.cancel_at, undone.canceled_at) == (False, None, None)
    client.v1.subscriptions.update(sub.id, {"cancel_at_period_end": True})
    answer = requests.post(f"{sandbox.url}/_sandbox/subscriptions", json={"subscription": sub.id,
                                                                         "action": "end_period"})
    assert answer.status_code == 200 and answer.json()["status"] == "canceled"
    ended = client.v1.subscriptions.retrieve(sub.id)
    assert ended.status == "canceled" and ended.ended_at is not None
    event = client.v1.events.list({"type": "customer.subscription.deleted", "limit": 1}).data[0]
    assert event.data.object.id == sub.id and event.request.id is None  # Stripe's own doing, no request


def test_period_renews_and_invoices_then_goes_past_due(client, customer, prices, sandbox) -> None:
    sub = subscribe(client, customer, prices["month"])
    answer = requests.post(f"{sandbox.url}/_sandbox/subscriptions", json={"subscription": sub.id,
                                                                         "action": "end_period"})
    renewed = client.v1.subscriptions.retrieve(sub.id)
    assert answer.status_code == 200 and renewed.status == "active"
    assert renewed.items.data[0].current_period_start == sub.items.data[0].current_period_end
    assert client.v1.invoices.retrieve(renewed.latest_invoice).billing_reason == "subscription_cycle"
    requests.post(f"{sandbox.url}/_sandbox/subscriptions", json={"subscription": sub.id, "action": "past_due"})
    assert client.v1.subscriptions.retrieve(sub.id).status == "past_due"
    bad = requests.post(f"{sandbox.url}/_sandbox/subscriptions", json={"subscription": sub.id, "action": "x"})
    assert bad.status_code == 400 and "end_period" in bad.json()["error"]


def test_cancel_now_and_lists(client, customer, prices) -> None:
    keep = subscribe(client, customer, prices["month"])
    gone = subscribe(client, customer, prices["team"])
    canceled = client.v1.subscriptions.cancel(gone.id)
    assert (canceled.status, canceled.cancellation_details.reason) == ("canceled", "cancellation_requested")
    assert canceled.canceled_at == canceled.ended_at is not None
    assert client.v1.subscriptions.retrieve(gone.id).status == "canceled"  # still retrievable
    assert [s.id for s in client.v1.subscriptions.list({"customer": customer.id}).data] == [keep.id]
    assert {s.id for s in client.v1.subscriptions.list({"status": "all"}).data} == {keep.id, gone.id}
    assert [s.id for s in client.v1.subscriptions.list({"status": "canceled"}).data] == [gone.id]
    assert [s.id for s in client.v1.subscriptions.list({"price": prices["team"].id,
                                                         "status": "all"}).data] == [gone.id]
    listed = client.v1.subscriptions.list({"expand": ["data.customer"]}).data[0]
    assert listed.customer.id == customer.id
    with pytest.raises(stripe.InvalidRequestError) as twice:
        client.v1.subscriptions.cancel(gone.id)
    assert twice.value.code == "resource_missing"
    with pytest.raises(stripe.InvalidRequestError, match="canceled subscription"):
        client.v1.subscriptions.update(gone.id, {"items": [{"id": gone.items.data[0].id, "quantity": 2}]})
    # metadata may still change
    assert client.v1.subscriptions.update(gone.id, {"metadata": {"note": "x"}}).metadata["note"] == "x"


def test_search_by_metadata(client, customer, prices) -> None:
    sub = subscribe(client, customer, prices["month"])
    found = client.v1.subscriptions.search({"query": "metadata['zenskar_id']:'7'"}).data
    assert [s.id for s in found] == [sub.id]


def test_refusals(client, customer, prices) -> None:
    with pytest.raises(stripe.InvalidRequestError) as no_days:
        client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": prices["month"].id}],
                                        "collection_method": "send_invoice"})
    assert no_days.value.param == "days_until_due"
    one_time = client.v1.prices.create({"product": prices["month"].product, "currency": "usd", "unit_amount": 5})
    with pytest.raises(stripe.InvalidRequestError, match="type=recurring"):
        subscribe(client, customer, one_time)
    with pytest.raises(stripe.InvalidRequestError, match="same recurring interval"):
        client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": prices["month"].id},
                                                                           {"price": prices["year"].id}]})
    with pytest.raises(stripe.InvalidRequestError) as missing:
        subscribe(client, customer, prices["month"], items=[{"price": "price_nope"}])
    assert missing.value.code == "resource_missing"
    sub = subscribe(client, customer, prices["month"])
    with pytest.raises(stripe.InvalidRequestError) as item:
        client.v1.subscriptions.update(sub.id, {"items": [{"id": "si_nope", "quantity": 2}]})
    assert item.value.param == "items[0][id]"
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.subscriptions.update(sub.id, {"plan": "x"})
    assert unknown.value.code == "parameter_unknown"
    with pytest.raises(stripe.InvalidRequestError) as proration:
        client.v1.subscriptions.update(sub.id, {"proration_behavior": "sometimes"})
    assert proration.value.param == "proration_behavior"
    assert len(client.v1.subscriptions.list({"customer": customer.id}).data) == 1  # refusals created nothing


@pytest.mark.parametrize("resource", ["subscription", "subscription_item"])
def test_fields_match_stripe_examples(resource, client, customer, prices) -> None:
    fixture = json.loads((SHARED_REFERENCE / "stripe" / "fixtures3.json").read_text())["resources"][resource]
    sub = subscribe(client, customer, prices["month"]).to_dict()
    actual = sub if resource == "subscription" else sub["items"]["data"][0]
    expected = set(fixture)
    assert set(actual) == expected, (sorted(set(actual) - expected), sorted(expected - set(actual)))
