"""Subscription items, trials, prorations and a past_due subscription paid back to active, through the real SDK.

Stripe's rules followed (docs cited in the sandbox modules): /v1/subscription_items lists, adds, changes and
deletes a subscription's items (never its last one); a trial bills 0 at once and a full period when it ends;
`proration_behavior` create_prorations (default) makes pending proration items, `none` none, `always_invoice` an
invoice at once; paying the open invoice of a past_due subscription makes it active again."""

from __future__ import annotations

import pytest
import requests
import stripe

from . import test_subscriptions
from .test_subscriptions import DAY, subscribe

customer, prices = test_subscriptions.customer, test_subscriptions.prices  # that module's fixtures, shared


def events_of(client: stripe.StripeClient, kind: str) -> list[stripe.Event]:
    return client.v1.events.list({"type": kind, "limit": 100}).data


def test_subscription_items_list_add_change_and_delete(client, customer, prices) -> None:
    sub = subscribe(client, customer, prices["month"], quantity=2)
    [first] = client.v1.subscription_items.list({"subscription": sub.id}).data
    assert (first.id, first.price.id, first.quantity) == (sub.items.data[0].id, prices["month"].id, 2)
    added = client.v1.subscription_items.create({"subscription": sub.id, "price": prices["team"].id, "quantity": 3,
                                                 "metadata": {"seat": "extra"}, "proration_behavior": "none"})
    assert (added.subscription, added.quantity, added.metadata["seat"]) == (sub.id, 3, "extra")
    assert {i.id for i in client.v1.subscriptions.retrieve(sub.id).items.data} == {first.id, added.id}
    changed = client.v1.subscription_items.update(added.id, {"quantity": 5, "proration_behavior": "none"})
    assert client.v1.subscription_items.retrieve(added.id).quantity == changed.quantity == 5
    gone = client.v1.subscription_items.delete(added.id, {"proration_behavior": "none"})
    assert (gone.id, gone.deleted) == (added.id, True)
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.subscription_items.retrieve(added.id)
    assert (missing.value.code, missing.value.http_status) == ("resource_missing", 404)
    with pytest.raises(stripe.InvalidRequestError, match="same recurring interval"):  # refused whole: nothing moves
        client.v1.subscriptions.update(sub.id, {"description": "changed", "items": [{"price": prices["year"].id}]})
    assert client.v1.subscriptions.retrieve(sub.id).description is None
    with pytest.raises(stripe.InvalidRequestError, match="at least one active plan"):
        client.v1.subscription_items.delete(first.id)  # the last item: cancel the subscription instead
    with pytest.raises(stripe.InvalidRequestError, match="same price"):
        client.v1.subscription_items.create({"subscription": sub.id, "price": prices["month"].id})
    with pytest.raises(stripe.InvalidRequestError, match="same recurring interval"):
        client.v1.subscription_items.create({"subscription": sub.id, "price": prices["year"].id})
    with pytest.raises(stripe.InvalidRequestError) as no_sub:
        client.v1.subscription_items.list({})  # type: ignore[typeddict-item]
    assert (no_sub.value.param, no_sub.value.code) == ("subscription", "parameter_missing")
    # Each change was one customer.subscription.updated; `none` made no proration item.
    assert len(events_of(client, "customer.subscription.updated")) == 3
    assert client.v1.invoice_items.list({"customer": customer.id}).data == []
    client.v1.subscriptions.cancel(sub.id)
    with pytest.raises(stripe.InvalidRequestError, match="canceled subscription"):
        client.v1.subscription_items.update(first.id, {"quantity": 4})


def test_create_prorations_makes_pending_items_the_next_invoice_collects(client, customer, prices, clock,
                                                                         sandbox) -> None:
    sub = subscribe(client, customer, prices["month"], quantity=1)
    item = sub.items.data[0]
    start, end = item.current_period_start, item.current_period_end
    clock.advance((end - start) // 2)
    client.v1.subscription_items.update(item.id, {"quantity": 3})  # create_prorations: the default
    share = (end - clock()) / (end - start)
    pending = client.v1.invoice_items.list({"customer": customer.id, "pending": True}).data
    assert sorted(i.amount for i in pending) == sorted([-round(1000 * share), round(3000 * share)])
    assert all(i.proration and i.parent.subscription_details.subscription_item == item.id for i in pending)
    assert client.v1.subscriptions.retrieve(sub.id).latest_invoice == sub.latest_invoice  # nothing billed yet
    requests.post(f"{sandbox.url}/_sandbox/subscriptions", json={"subscription": sub.id, "action": "end_period"})
    renewal = client.v1.invoices.retrieve(client.v1.subscriptions.retrieve(sub.id).latest_invoice)
    assert renewal.total == 3000 + sum(i.amount for i in pending)  # the new period plus the prorations
    prorated = [line for line in renewal.lines.data if line.parent.subscription_item_details.proration]
    assert {line.parent.subscription_item_details.invoice_item for line in prorated} == {i.id for i in pending}
    assert client.v1.invoice_items.list({"customer": customer.id, "pending": True}).data == []


def test_always_invoice_bills_the_proration_at_once_and_none_bills_nothing(client, customer, prices, clock) -> None:
    sub = subscribe(client, customer, prices["month"], quantity=1)
    item = sub.items.data[0]
    clock.advance(10 * DAY)
    client.v1.subscriptions.update(sub.id, {"items": [{"id": item.id, "quantity": 2}],
                                            "proration_behavior": "none"})
    assert client.v1.invoice_items.list({"customer": customer.id}).data == []
    now_billed = client.v1.subscriptions.update(sub.id, {"items": [{"id": item.id, "price": prices["team"].id}],
                                                         "proration_behavior": "always_invoice"})
    invoice = client.v1.invoices.retrieve(now_billed.latest_invoice)
    assert invoice.id != sub.latest_invoice and invoice.billing_reason == "subscription_update"
    assert invoice.status == "open" and len(invoice.lines.data) == 2  # credit for Pro x2, charge for Team x2
    share = (item.current_period_end - clock()) / (item.current_period_end - item.current_period_start)
    assert invoice.total == round(5000 * share) - round(2000 * share)


def test_a_trial_bills_zero_then_its_end_starts_a_billed_period(client, customer, prices, sandbox, clock) -> None:
    sub = subscribe(client, customer, prices["month"], quantity=2, trial_period_days=14)
    assert (sub.status, sub.trial_end - sub.trial_start) == ("trialing", 14 * DAY)
    assert sub.items.data[0].current_period_end == sub.trial_end
    first = client.v1.invoices.retrieve(sub.latest_invoice)
    assert (first.total, first.status, first.billing_reason) == (0, "paid", "subscription_create")
    client.v1.subscriptions.update(sub.id, {"items": [{"id": sub.items.data[0].id, "quantity": 4}]})
    assert client.v1.invoice_items.list({"customer": customer.id}).data == []  # nothing to prorate in a trial
    clock.advance(14 * DAY)
    requests.post(f"{sandbox.url}/_sandbox/subscriptions", json={"subscription": sub.id, "action": "end_period"})
    active = client.v1.subscriptions.retrieve(sub.id)
    assert (active.status, active.items.data[0].current_period_start) == ("active", sub.trial_end)
    billed = client.v1.invoices.retrieve(active.latest_invoice)
    assert (billed.total, billed.status, billed.billing_reason) == (4000, "open", "subscription_cycle")
    [updated] = [e for e in events_of(client, "customer.subscription.updated") if e.request.id is None]
    assert updated.data.previous_attributes["status"] == "trialing"


def test_trial_end_now_ends_the_trial_and_trial_rules(client, customer, prices, clock) -> None:
    now = int(clock())
    sub = subscribe(client, customer, prices["month"], trial_end=now + 3 * DAY)
    assert sub.status == "trialing" and sub.trial_end == now + 3 * DAY
    ended = client.v1.subscriptions.update(sub.id, {"trial_end": "now"})
    assert (ended.status, ended.trial_end) == ("active", now)
    assert client.v1.invoices.retrieve(ended.latest_invoice).billing_reason == "subscription_update"
    card = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": prices["team"].id}],
                                           "trial_period_days": 7})
    assert card.status == "trialing"  # no payment method needed for a trial
    for bad, param in (({"trial_period_days": 7, "trial_end": now + DAY}, "trial_end"),
                       ({"trial_end": now - 10}, "trial_end"), ({"trial_end": now + 800 * DAY}, "trial_end"),
                       ({"trial_period_days": 731}, "trial_period_days")):
        with pytest.raises(stripe.InvalidRequestError) as refused:
            subscribe(client, customer, prices["month"], **bad)
        assert refused.value.param == param


def test_paying_a_past_due_subscriptions_invoice_makes_it_active(client, customer, prices, sandbox) -> None:
    sub = subscribe(client, customer, prices["month"])
    requests.post(f"{sandbox.url}/_sandbox/subscriptions", json={"subscription": sub.id, "action": "past_due"})
    assert client.v1.subscriptions.retrieve(sub.id).status == "past_due"
    client.v1.invoices.pay(sub.latest_invoice, {"payment_method": "pm_card_visa"})
    assert client.v1.subscriptions.retrieve(sub.id).status == "active"
    last = events_of(client, "customer.subscription.updated")[0]
    assert (last.data.object.status, last.data.previous_attributes["status"]) == ("active", "past_due")
    incomplete = client.v1.subscriptions.create({"customer": customer.id, "items": [{"price": prices["team"].id}]})
    assert incomplete.status == "incomplete"
    client.v1.invoices.pay(incomplete.latest_invoice, {"payment_method": "pm_card_visa"})
    assert client.v1.subscriptions.retrieve(incomplete.id).status == "active"  # the first invoice paid
