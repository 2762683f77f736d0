"""Events as Stripe records them: the types each action emits, their payloads and the request that caused them."""

from __future__ import annotations

import uuid

import pytest
import requests
import stripe

from zensync_pipelines.sandbox.stripe import StripeSandbox


def events_since(client: stripe.StripeClient, first_id: str | None, **filters) -> list[stripe.Event]:
    """Events newer than `first_id` (all when None), oldest first: ending_before pages towards the newest."""
    if first_id is None:
        return list(client.v1.events.list({"limit": 3, **filters}).auto_paging_iter())[::-1]
    return list(client.v1.events.list({"limit": 3, "ending_before": first_id, **filters}).auto_paging_iter())


def newest_event_id(client: stripe.StripeClient) -> str:
    return client.v1.events.list({"limit": 1}).data[0].id


def open_invoice(client: stripe.StripeClient, amount: int = 500) -> stripe.Invoice:
    customer = client.v1.customers.create({"email": "payer@example.com", "metadata": {"zenskar_id": "c1"}})
    draft = client.v1.invoices.create({"customer": customer.id, "collection_method": "send_invoice",
                                       "days_until_due": 30, "metadata": {"zenskar_id": "i1"}})
    client.v1.invoices.add_lines(draft.id, {"lines": [{"amount": amount, "description": "Seat"}]})
    return client.v1.invoices.finalize_invoice(draft.id)


def test_finalize_emits_finalized_then_updated_with_what_changed(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create({"email": "f@example.com"})
    draft = client.v1.invoices.create({"customer": customer.id})
    client.v1.invoices.add_lines(draft.id, {"lines": [{"amount": 100}]})
    mark = newest_event_id(client)
    client.v1.invoices.finalize_invoice(draft.id)
    finalized, updated = events_since(client, mark)
    assert (finalized.type, updated.type) == ("invoice.finalized", "invoice.updated")
    assert finalized.data.object.status == "open" and "previous_attributes" not in finalized.data
    previous = updated.data.previous_attributes.to_dict()
    assert previous["status"] == "draft" and previous["number"] is None
    assert previous["status_transitions"] == {"finalized_at": None}  # within a hash, only the changed keys
    assert finalized.created == updated.created and finalized.request.id == updated.request.id


def test_paying_emits_paid_payment_succeeded_and_updated_in_one_second(client: stripe.StripeClient) -> None:
    invoice = open_invoice(client)
    mark = newest_event_id(client)
    key = str(uuid.uuid4())  # what the SDK sends on its own; a dashboard click has a key of its own too
    client.v1.invoices.pay(invoice.id, {"payment_method": "pm_card_visa"}, {"idempotency_key": key})
    payment = ["payment_intent.created", "charge.succeeded", "payment_intent.succeeded", "invoice_payment.paid"]
    events = events_since(client, mark)
    assert [e.type for e in events[:4]] == payment  # the card payment's own objects: tests/test_payments.py
    events = events[4:]
    assert [e.type for e in events] == ["invoice.paid", "invoice.payment_succeeded", "invoice.updated"]
    assert len({e.created for e in events}) == 1 and len({e.request.id for e in events}) == 1
    assert all(e.request.idempotency_key == key and e.request.id.startswith("req_") for e in events)
    assert all(e.data.object.id == invoice.id and e.data.object.status == "paid" for e in events)
    assert events[0].data.object.metadata.zenskar_id == "i1"
    previous = events[2].data.previous_attributes.to_dict()
    assert previous["status"] == "open" and previous["amount_paid"] == 0 and previous["amount_remaining"] == 500
    assert previous["status_transitions"] == {"paid_at": None}


def test_paid_out_of_band_has_no_payment_succeeded(client: stripe.StripeClient) -> None:
    invoice = open_invoice(client)
    mark = newest_event_id(client)
    client.v1.invoices.pay(invoice.id, {"paid_out_of_band": True})
    assert [e.type for e in events_since(client, mark)] == ["invoice.paid", "invoice.updated"]


def test_a_declined_card_emits_payment_failed_and_updated(client: stripe.StripeClient) -> None:
    invoice = open_invoice(client)
    mark = newest_event_id(client)
    with pytest.raises(stripe.CardError):
        client.v1.invoices.pay(invoice.id, {"payment_method": "pm_card_chargeDeclined"})
    *payment, failed, updated = events_since(client, mark)
    assert [e.type for e in payment] == ["payment_intent.created", "charge.failed", "payment_intent.payment_failed"]
    assert (failed.type, updated.type) == ("invoice.payment_failed", "invoice.updated")
    assert updated.data.previous_attributes.to_dict() == {"attempted": False, "attempt_count": 0}


@pytest.mark.parametrize("action, event_type, status, stamp, more", [
    ("void_invoice", "invoice.voided", "void", "voided_at", {"amount_remaining": 500}),  # nothing left to pay
    ("mark_uncollectible", "invoice.marked_uncollectible", "uncollectible", "marked_uncollectible_at", {}),
])
def test_void_and_uncollectible_emit_their_type_and_updated(client: stripe.StripeClient, action: str,
                                                            event_type: str, status: str, stamp: str,
                                                            more: dict) -> None:
    invoice = open_invoice(client)
    mark = newest_event_id(client)
    getattr(client.v1.invoices, action)(invoice.id)
    specific, updated = events_since(client, mark)
    assert (specific.type, updated.type) == (event_type, "invoice.updated")
    assert specific.data.object.status == status
    assert updated.data.previous_attributes.to_dict() == {"status": "open", "status_transitions": {stamp: None},
                                                          **more}


def test_customer_events_carry_the_object_and_the_changed_fields(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create({"email": "old@example.com", "address": {"city": "Pune", "line1": "1"}})
    client.v1.customers.update(customer.id, {"email": "new@example.com", "address": {"city": "Mumbai", "line1": "1"}})
    client.v1.customers.update(customer.id, {"email": "new@example.com"})  # no change: no event
    client.v1.customers.delete(customer.id)
    created, updated, deleted = events_since(client, None, type="customer.*")
    assert [created.type, updated.type, deleted.type] == ["customer.created", "customer.updated", "customer.deleted"]
    assert updated.data.previous_attributes.to_dict() == {"email": "old@example.com", "address": {"city": "Pune"}}
    assert updated.data.object.email == "new@example.com"
    # customer.deleted carries the customer as it was, not the `deleted` stub a retrieve returns
    assert deleted.data.object.id == customer.id and deleted.data.object.email == "new@example.com"
    assert "deleted" not in deleted.data.object.to_dict()


def test_deleting_a_draft_emits_invoice_deleted(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create({})
    draft = client.v1.invoices.create({"customer": customer.id})
    client.v1.invoices.delete(draft.id)
    assert [e.type for e in events_since(client, None, type="invoice.*")] == ["invoice.created", "invoice.deleted"]


def test_request_says_who_caused_the_event(client: stripe.StripeClient, sandbox: StripeSandbox,
                                          raw: requests.Session) -> None:
    """zensync's derived key, a human's (no key, or a key of the dashboard's), or Stripe itself (null/null)."""
    invoice = open_invoice(client)
    customer_id = invoice.customer
    client.v1.customers.update(customer_id, {"name": "Zensync"}, {"idempotency_key": "zensync-abc"})
    raw.post(f"{sandbox.url}/v1/customers/{customer_id}", data={"phone": "+1 555 0100"}).raise_for_status()
    mark = newest_event_id(client)
    reply = requests.post(f"{sandbox.url}/_sandbox/automatic", json={"invoice": invoice.id, "action": "pay"})
    assert reply.status_code == 200 and reply.json()["status"] == "paid"
    # A plain SDK call (no options) still sends an Idempotency-Key of its own: random, never zensync's.
    [created] = events_since(client, None, type="customer.created")
    assert created.request.idempotency_key and not created.request.idempotency_key.startswith("zensync-")
    updates = events_since(client, None, type="customer.updated")
    assert [e.request.idempotency_key for e in updates] == ["zensync-abc", None]
    assert all(e.request.id.startswith("req_") for e in updates)
    automatic = events_since(client, mark)
    assert [e.type for e in automatic][:4] == ["payment_intent.created", "charge.succeeded",
                                               "payment_intent.succeeded", "invoice_payment.paid"]
    assert [e.type for e in automatic][4:] == ["invoice.paid", "invoice.payment_succeeded", "invoice.updated"]
    assert all(e.request.to_dict() == {"id": None, "idempotency_key": None} for e in automatic)
    refused = requests.post(f"{sandbox.url}/_sandbox/automatic", json={"invoice": invoice.id, "action": "void"})
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "invoice_not_editable"


def test_events_page_both_ways_and_filter_by_type_and_time(client: stripe.StripeClient, clock) -> None:
    ids = [client.v1.customers.create({"email": f"p{i}@example.com"}).id for i in range(7)]
    clock.advance(10)
    later = client.v1.customers.create({"email": "later@example.com"})
    newest_first = list(client.v1.events.list({"type": "customer.created", "limit": 3}).auto_paging_iter())
    assert [e.data.object.id for e in newest_first] == [later.id] + ids[::-1]
    oldest = newest_first[-1].id
    forward = list(client.v1.events.list({"types": ["customer.created"], "limit": 3,
                                          "ending_before": oldest}).auto_paging_iter())
    assert [e.data.object.id for e in forward] == ids[1:] + [later.id]
    recent = client.v1.events.list({"type": "customer.created", "created": {"gte": later.created}})
    assert [e.data.object.id for e in recent.data] == [later.id]
    with pytest.raises(stripe.InvalidRequestError, match="at most 20"):
        client.v1.events.list({"types": [f"customer.t{i}" for i in range(21)]})
    with pytest.raises(stripe.InvalidRequestError) as error:
        client.v1.events.list({"starting_after": "evt_missing"})
    assert error.value.code == "resource_missing"


def test_one_request_stamps_all_its_events_with_one_second() -> None:
    """Even when the clock moves on while the request runs (here: 0.7 s per clock read)."""
    now = [1_800_000_000.0]

    def ticking() -> float:
        now[0] += 0.7
        return now[0]

    with StripeSandbox(rate_limit=None, clock=ticking) as sb:
        client = stripe.StripeClient("sk_test_tick", base_addresses={"api": sb.url}, max_network_retries=0)
        invoice = open_invoice(client)
        mark = newest_event_id(client)
        client.v1.invoices.pay(invoice.id, {"payment_method": "pm_card_visa"})
        events = events_since(client, mark)
        assert len(events) == 7 and len({e.created for e in events}) == 1
        customer = client.v1.customers.retrieve(invoice.customer)
        assert customer.created < events[0].created  # while separate requests still get their own times
