"""Payments end to end on SQLite and PostgreSQL: an invoice paid by card in the Stripe sandbox becomes a payments
row linked to its invoice and customer, then a Payment__c linked to its Invoice__c and Account; a refund updates
both; a charge whose invoice no mapping names fails alone and goes through once the invoice is linked; reruns
make no call."""

from __future__ import annotations

import datetime as dt

import pytest
from simple_salesforce import Salesforce
from sqlalchemy import delete, update

from zensync_pipelines.engine.sync import Selection, sync
from zensync_pipelines.sandbox.salesforce import SalesforceSandbox
from zensync_pipelines.store.catalog import CatalogTables
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines.store.tables import inbound_events, mappings
from zensync_pipelines.systems.salesforce import SalesforceResource
from zensync_pipelines_tests.inbound.helpers import SPECS, by_hand, outcomes, pull, push, stripe_id

from .helpers import charge_of, inbound_payments, pay, payment_rows, world

PAYMENT_FIELDS = "Zenskar_Id__c, Name, Invoice__r.Zenskar_Id__c, Account__r.Zenskar_Id__c, Amount__c, " \
                 "Amount_Refunded__c, Refunded__c, Currency__c, Status__c, Paid_At__c"


@pytest.fixture
def salesforce():
    with SalesforceSandbox() as sb:
        resource = SalesforceResource(login_url=sb.login_url, client_id="zensync-app", client_secret="app-secret",
                                      ca_bundle=sb.ca_file, retry_base_seconds=0.002)
        sf = Salesforce(instance_url=sb.instance_url, session_id=sb.new_session(), session=sb.requests_session())
        yield resource, sf


def to_salesforce(engine, resource, catalog: str, run_id: str):
    return sync(SPECS[catalog], "salesforce", CatalogTables(engine), MappingStore(engine), resource.adapter(),
                run_id, Selection())


def remote_payments(sf) -> dict[str, dict]:
    return {r["Zenskar_Id__c"]: r for r in sf.query_all(f"SELECT {PAYMENT_FIELDS} FROM Payment__c")["records"]}


def test_a_card_payment_reaches_the_catalog_then_salesforce_and_a_refund_follows(engine, stripe_sandbox_url,
                                                                                 salesforce):
    resource, sf = salesforce
    world(engine, stripe_sandbox_url)
    paid = pay(engine, stripe_sandbox_url, 1)
    charge = charge_of(stripe_sandbox_url, paid.id)
    pull(engine, stripe_sandbox_url)
    report = inbound_payments(engine, stripe_sandbox_url)
    assert (report.applied, report.failed) == (1, 0)  # charge.succeeded: a new row
    [row] = payment_rows(engine)
    assert (row["invoice_id"], row["customer_id"], row["amount"], row["amount_refunded"], row["currency"],
            row["status"], row["refunded"]) == (1, 1, 1000, 0, "usd", "succeeded", False)
    paid_at = row["paid_at"] if row["paid_at"].tzinfo else row["paid_at"].replace(tzinfo=dt.timezone.utc)
    assert paid_at == dt.datetime.fromtimestamp(charge.created, dt.timezone.utc)
    [link] = MappingStore(engine).rows("payments", "stripe", internal_id=str(row["id"]))
    assert (link["object_type"], link["external_id"], link["status"]) == ("charge", charge.id, "synced")

    for catalog in ("customers", "invoices"):
        to_salesforce(engine, resource, catalog, f"sf-{catalog}")
    assert to_salesforce(engine, resource, "payments", "sf-pay-1").created == 1
    remote = remote_payments(sf)[str(row["id"])]
    assert (remote["Invoice__r"]["Zenskar_Id__c"], remote["Account__r"]["Zenskar_Id__c"], remote["Amount__c"],
            remote["Amount_Refunded__c"], remote["Currency__c"], remote["Status__c"], remote["Name"],
            remote["Refunded__c"]) == ("1", "1", 10.0, 0.0, "USD", "succeeded", f"PAY-{row['id']}", False)

    by_hand(stripe_sandbox_url).v1.refunds.create({"charge": charge.id, "amount": 250})
    pull(engine, stripe_sandbox_url)
    assert inbound_payments(engine, stripe_sandbox_url).applied == 1  # charge.refunded updates the row
    [refunded] = payment_rows(engine)
    # A partial refund: the amount moves, the charge is not refunded (Stripe's Charge.refunded stays false).
    assert (refunded["id"], refunded["amount_refunded"], refunded["status"], refunded["refunded"]) == \
        (row["id"], 250, "succeeded", False)
    assert refunded["updated_at"] != row["updated_at"]  # the Salesforce copy's sensor sees it
    assert to_salesforce(engine, resource, "payments", "sf-pay-2").updated == 1
    assert (remote_payments(sf)[str(row["id"])]["Amount_Refunded__c"],
            remote_payments(sf)[str(row["id"])]["Refunded__c"]) == (2.5, False)

    # The rest refunded: the row and its Payment__c say refunded, where a report filters on it.
    by_hand(stripe_sandbox_url).v1.refunds.create({"charge": charge.id})
    pull(engine, stripe_sandbox_url)
    assert inbound_payments(engine, stripe_sandbox_url).applied == 1
    [whole] = payment_rows(engine)
    assert (whole["amount_refunded"], whole["status"], whole["refunded"]) == (1000, "succeeded", True)
    assert to_salesforce(engine, resource, "payments", "sf-pay-2b").updated == 1
    remote = remote_payments(sf)[str(row["id"])]
    assert (remote["Amount_Refunded__c"], remote["Refunded__c"], remote["Status__c"]) == (10.0, True, "succeeded")

    rerun = inbound_payments(engine, stripe_sandbox_url)
    assert (rerun.applied, rerun.failed, rerun.fetches) == (0, 0, 0)  # no event due: no call
    again = to_salesforce(engine, resource, "payments", "sf-pay-3")
    assert (again.created, again.updated, again.api_calls) == (0, 0, 0)
    assert push(engine, stripe_sandbox_url, "invoices").api_calls == 0  # the payment changed no invoice field


def test_a_declined_card_is_a_failed_payment_row(engine, stripe_sandbox_url):
    import stripe

    world(engine, stripe_sandbox_url)
    with pytest.raises(stripe.CardError):
        pay(engine, stripe_sandbox_url, 2, "pm_card_chargeDeclined")
    pull(engine, stripe_sandbox_url)
    assert inbound_payments(engine, stripe_sandbox_url).applied == 1
    [row] = payment_rows(engine)
    assert (row["invoice_id"], row["customer_id"], row["status"], row["amount"]) == (2, 2, "failed", 1000)


def test_a_charge_of_an_invoice_not_linked_yet_fails_alone_then_goes_through(engine, stripe_sandbox_url):
    world(engine, stripe_sandbox_url)
    stripe_invoice = stripe_id(engine, "invoices", 2)
    with engine.begin() as connection:  # as if the outbound run died between Stripe's answer and its mapping write
        connection.execute(delete(mappings).where(mappings.c.catalog == "invoices", mappings.c.internal_id == "2"))
    pay(engine, stripe_sandbox_url, 1)
    by_hand(stripe_sandbox_url).v1.invoices.pay(stripe_invoice, {"payment_method": "pm_card_visa"})
    pull(engine, stripe_sandbox_url)
    report = inbound_payments(engine, stripe_sandbox_url)
    assert (report.applied, report.failed) == (1, 1)  # the other payment is not held back
    [failure] = report.failures
    assert failure["code"] == "unknown_reference" and stripe_invoice in failure["reason"]
    assert [r["invoice_id"] for r in payment_rows(engine)] == [1]  # no row with a dangling invoice
    assert "unknown_reference" in outcomes(engine, "payments")

    assert push(engine, stripe_sandbox_url, "invoices").failed == 0  # the rerun finds the invoice by its tag
    assert stripe_id(engine, "invoices", 2) == stripe_invoice
    with engine.begin() as connection:  # the backoff elapsed
        connection.execute(update(inbound_events).where(inbound_events.c.status == "failed")
                           .values(next_attempt_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)))
    retried = inbound_payments(engine, stripe_sandbox_url)
    assert (retried.applied, retried.failed) == (1, 0)
    assert sorted(r["invoice_id"] for r in payment_rows(engine)) == [1, 2]


def test_stripe_down_while_reading_a_charges_invoice_fails_the_run_and_keeps_the_events(engine, stripe_sandbox_url):
    import stripe

    world(engine, stripe_sandbox_url)
    pay(engine, stripe_sandbox_url, 1)
    pull(engine, stripe_sandbox_url)
    with pytest.raises(stripe.APIConnectionError):
        inbound_payments(engine, "http://127.0.0.1:9")  # nothing listens: the InvoicePayment lookup cannot answer
    assert payment_rows(engine) == [] and set(outcomes(engine, "payments")) == {None}  # still due, not dropped
    assert inbound_payments(engine, stripe_sandbox_url).applied == 1
    assert [r["invoice_id"] for r in payment_rows(engine)] == [1]
