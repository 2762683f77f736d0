"""Payments held to the conformance contract of each system its spec names, by the system's strategy, on SQLite and
PostgreSQL, with the real SDKs over HTTP to the sandboxes.

- Inbound-only (Stripe's `charge`): zensync never writes it; the same event delivered again (a webhook duplicate,
  a poll seeing it once more) changes nothing and causes no call; a refund updates the row exactly once; events
  read late apply Stripe's latest state to one row.
- Outbound (Salesforce's `Payment__c`): exactly one write per real change and none for a row whose mapped fields
  did not move; a write whose reply was lost is retried without a second Payment__c; a payment whose invoice is
  not in Salesforce yet waits for it instead of failing or dangling.

A system added to the payments spec fails `test_every_payments_system_is_covered` until it is given its case here.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
import requests
from simple_salesforce import Salesforce
from sqlalchemy import update

from zensync_pipelines.demo.tables import metadata, payments
from zensync_pipelines.engine.strategy import INBOUND_ONLY
from zensync_pipelines.sandbox.salesforce import SalesforceSandbox
from zensync_pipelines.store.inbox import InboxStore
from zensync_pipelines.systems.salesforce import SalesforceResource
from zensync_pipelines.systems.stripe.inbound import to_inbox_event
from zensync_pipelines_tests.inbound.helpers import ROUTES, SPECS, add_customers, add_invoice, by_hand, pull, push, \
    stripe_events
from zensync_pipelines_tests.payments.helpers import charge_of, inbound_payments, pay, payment_rows, world
from zensync_pipelines_tests.payments.test_payments_e2e import remote_payments, to_salesforce

SPEC = SPECS["payments"]
INBOUND = sorted(s for s in SPEC.systems if SPEC.strategy(s).mode == INBOUND_ONLY)
OUTBOUND = sorted(s for s in SPEC.systems if SPEC.strategy(s).mode != INBOUND_ONLY)
COVERED = {"stripe": "charge", "salesforce": "Payment__c"}  # system -> the object type its cases below exercise


def test_every_payments_system_is_covered() -> None:
    assert {s: [o.object_type for o in objs] for s, objs in SPEC.systems.items()} == \
        {s: [o] for s, o in COVERED.items()}
    assert (INBOUND, OUTBOUND) == (["stripe"], ["salesforce"])


# -- inbound-only: Stripe's charges ------------------------------------------------------------------------------

def writes(sandbox) -> dict[str, int]:
    return {route: n for route, n in sandbox.counters.snapshot().items() if not route.startswith("GET ")}


def deliver_again(engine, url: str) -> int:
    """Every event once more, as webhook duplicates and as a poll would bring them; returns the new inbox rows."""
    events = stripe_events(url)
    again = [row for row in (to_inbox_event(e, ROUTES, source="webhook") for e in events) if row is not None]
    return InboxStore(engine).add(again) + pull(engine, url)


@pytest.mark.parametrize("system", INBOUND)
def test_a_redelivered_charge_event_changes_nothing_and_calls_nothing(system, engine, stripe_sandbox,
                                                                      stripe_sandbox_url):
    url = stripe_sandbox_url
    world(engine, url)
    pay(engine, url, 1)
    pull(engine, url)
    first = inbound_payments(engine, url)
    assert (first.applied, first.failed) == (1, 0)
    [row] = payment_rows(engine)
    stored = len(InboxStore(engine).rows(catalog="payments"))
    stripe_sandbox.counters.reset()
    assert deliver_again(engine, url) == 0  # the same event ids: nothing new in the inbox
    rerun = inbound_payments(engine, url)
    assert (rerun.applied, rerun.failed, rerun.fetches) == (0, 0, 0)
    assert payment_rows(engine) == [row] and len(InboxStore(engine).rows(catalog="payments")) == stored
    outbound = push(engine, url, "payments")  # the strategy: zensync never writes a charge
    assert (outbound.created, outbound.updated, outbound.api_calls) == (0, 0, 0)
    assert writes(stripe_sandbox) == {}


@pytest.mark.parametrize("system", INBOUND)
def test_a_refund_updates_the_row_once(system, engine, stripe_sandbox_url):
    url = stripe_sandbox_url
    world(engine, url)
    charge = charge_of(url, pay(engine, url, 1).id)
    pull(engine, url)
    inbound_payments(engine, url)
    [before] = payment_rows(engine)
    by_hand(url).v1.refunds.create({"charge": charge.id, "amount": 300})
    pull(engine, url)
    deliver_again(engine, url)
    refunded = inbound_payments(engine, url)
    assert (refunded.applied, refunded.failed) == (1, 0)
    [after] = payment_rows(engine)
    assert (after["id"], after["amount_refunded"], after["amount"]) == (before["id"], 300, before["amount"])
    assert after["updated_at"] != before["updated_at"]
    deliver_again(engine, url)
    assert inbound_payments(engine, url).applied == 0
    assert payment_rows(engine) == [after]


@pytest.mark.parametrize("system", INBOUND)
def test_events_read_late_make_one_row_in_stripes_latest_state(system, engine, stripe_sandbox_url):
    url = stripe_sandbox_url
    world(engine, url)
    charge = charge_of(url, pay(engine, url, 1).id)
    client = by_hand(url)
    client.v1.refunds.create({"charge": charge.id, "amount": 100})
    client.v1.refunds.create({"charge": charge.id, "amount": 200})
    pull(engine, url)  # charge.succeeded and two charge.refunded, all read at once
    report = inbound_payments(engine, url)
    assert report.failed == 0
    [row] = payment_rows(engine)
    assert (row["amount"], row["amount_refunded"], row["status"]) == (1000, 300, "succeeded")


# -- outbound: Salesforce's Payment__c ---------------------------------------------------------------------------

@pytest.fixture
def salesforce_side(engine):
    """Customers 1-2 and invoices 1-2 in the catalog and in Salesforce, and payments 1-2 as the inbound side
    makes them (payment i: invoice i, customer i)."""
    with SalesforceSandbox() as sb:
        resource = SalesforceResource(login_url=sb.login_url, client_id="zensync-app", client_secret="app-secret",
                                      ca_bundle=sb.ca_file, retry_base_seconds=0.002, retry_max_seconds=0.02)
        sf = Salesforce(instance_url=sb.instance_url, session_id=sb.new_session(), session=sb.requests_session())
        add_customers(engine, 2)
        metadata.create_all(engine, tables=[payments])
        for i in (1, 2):
            add_invoice(engine, i, i)
        for catalog in ("customers", "invoices"):
            assert to_salesforce(engine, resource, catalog, f"sf-{catalog}").failed == 0
        add_payments(engine, (1, 1), (2, 2))
        yield sb, resource, sf


def add_payments(engine, *pairs: tuple[int, int]) -> None:
    at = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    with engine.begin() as connection:
        connection.execute(payments.insert(), [
            {"id": invoice, "invoice_id": invoice, "customer_id": customer, "amount": 1000, "amount_refunded": 0,
             "currency": "usd", "status": "succeeded", "paid_at": at, "created_at": at, "updated_at": at}
            for invoice, customer in pairs])


def edit_payment(engine, payment_id: int, **values) -> None:
    values["updated_at"] = dt.datetime.now(dt.timezone.utc)
    with engine.begin() as connection:
        connection.execute(update(payments).where(payments.c.id == payment_id).values(**values))


def tagged(sf) -> Counter:
    return Counter(r["Zenskar_Id__c"] for r in sf.query_all("SELECT Zenskar_Id__c FROM Payment__c")["records"])


@pytest.mark.parametrize("system", OUTBOUND)
def test_one_write_per_real_change(system, engine, salesforce_side):
    sb, resource, sf = salesforce_side
    created = to_salesforce(engine, resource, "payments", "pay-1")
    assert (created.created, created.failed) == (2, 0)
    assert to_salesforce(engine, resource, "payments", "pay-2").api_calls == 0
    edit_payment(engine, 1)  # touched, but no field Payment__c maps moved
    untouched = to_salesforce(engine, resource, "payments", "pay-3")
    assert (untouched.updated, untouched.api_calls) == (0, 0)
    edit_payment(engine, 1, amount_refunded=250)
    refunded = to_salesforce(engine, resource, "payments", "pay-4")
    assert (refunded.created, refunded.updated, refunded.failed) == (0, 1, 0)
    assert remote_payments(sf)["1"]["Amount_Refunded__c"] == 2.5
    assert to_salesforce(engine, resource, "payments", "pay-5").api_calls == 0
    assert tagged(sf) == {"1": 1, "2": 1}


@pytest.mark.parametrize("system", OUTBOUND)
def test_a_lost_write_is_retried_without_a_second_payment(system, engine, salesforce_side):
    sb, resource, sf = salesforce_side
    sb.configure(fault_rate=1.0, fault_kinds=["drop_after"], seed=1)  # the write lands, its reply is lost
    try:
        lost = to_salesforce(engine, resource, "payments", "lost")
        assert lost.created < 2
    except requests.ConnectionError:
        pass
    sb.configure(fault_rate=0.0)
    retried = to_salesforce(engine, resource, "payments", "retried")
    assert retried.failed == 0
    assert tagged(sf) == {"1": 1, "2": 1}
    assert to_salesforce(engine, resource, "payments", "after").api_calls == 0


@pytest.mark.parametrize("system", OUTBOUND)
def test_a_payment_waits_for_its_invoice_then_goes_through(system, engine, salesforce_side):
    sb, resource, sf = salesforce_side
    add_invoice(engine, 3, 1)  # in the catalog, not yet in Salesforce
    add_payments(engine, (3, 1))
    first = to_salesforce(engine, resource, "payments", "wait-1")
    assert (first.created, first.failed, first.waiting) == (2, 0, 1)
    assert set(tagged(sf)) == {"1", "2"}  # no Payment__c with a dangling invoice
    to_salesforce(engine, resource, "invoices", "sf-invoice-3")
    second = to_salesforce(engine, resource, "payments", "wait-2")
    assert (second.created, second.failed, second.waiting) == (1, 0, 0)
    assert remote_payments(sf)["3"]["Invoice__r"]["Zenskar_Id__c"] == "3"
