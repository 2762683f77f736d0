"""The inbound engine against the Stripe sandbox through the real SDK: events pulled into the inbox, applied."""

import datetime as dt
import json

from zensync_pipelines.demo.tables import customers, invoices
from zensync_pipelines.store.inbox import InboxStore
from zensync_pipelines.store.mappings import MappingStore

from .helpers import (add_customers, add_invoice, by_hand, edit, inbound, outcomes, pull, push, row, store_events,
                      stripe_events, stripe_id)


def test_an_email_fixed_in_stripe_reaches_the_catalog_and_is_not_pushed_back(engine, stripe_sandbox_url):
    url = stripe_sandbox_url
    add_customers(engine, 2)
    assert push(engine, url).created == 2
    by_hand(url).v1.customers.update(stripe_id(engine, "customers", 1), params={"email": "fixed@example.com"})
    pull(engine, url)
    report = inbound(engine, url)
    # The creations are echoes; one may share its second with the edit, which then costs one read of the object.
    assert (report.applied, report.failed) == (1, 0) and report.echo + report.stale == 2 and report.fetches <= 1
    assert row(engine, customers, 1)["email"] == "fixed@example.com"
    assert row(engine, customers, 2)["email"] == "c2@example.com"
    again = push(engine, url)
    assert (again.updated, again.created, again.api_calls) == (0, 0, 0)  # the fingerprint followed
    assert inbound(engine, url).counts()["applied"] == 0  # nothing due any more


def test_zensyncs_own_writes_are_echoes_even_after_the_catalog_moved_on(engine, stripe_sandbox_url):
    url = stripe_sandbox_url
    add_customers(engine, 1)
    push(engine, url)
    edit(engine, customers, 1, email="first@example.com")
    assert push(engine, url).updated == 1
    edit(engine, customers, 1, email="second@example.com")  # not sent yet when the echo arrives
    pull(engine, url)
    report = inbound(engine, url)
    assert (report.applied, report.echo) == (0, 2)  # the creation's and the update's
    assert row(engine, customers, 1)["email"] == "second@example.com"


def test_without_the_systems_marker_the_fingerprint_still_tells_an_echo(engine, stripe_sandbox_url):
    """A system that does not report who made a change (e.g. Salesforce): the object equals zensync's last write
    while the row has moved on since, so applying it would undo the newer catalog edit. The mapping's base is that
    write: no field differs from it, so nothing counts as the system's change (unchanged, not applied)."""
    url = stripe_sandbox_url
    add_customers(engine, 1)
    push(engine, url)
    edit(engine, customers, 1, email="first@example.com")
    push(engine, url)
    edit(engine, customers, 1, email="second@example.com", updated_at=dt.datetime.now(dt.timezone.utc)
         - dt.timedelta(minutes=1))  # even older than the event: newest-wins alone would take the event
    events = [e | {"request": {"id": None, "idempotency_key": None}} for e in stripe_events(url)]
    store_events(engine, events)
    report = inbound(engine, url)
    assert (report.applied, report.echo + report.unchanged) == (0, 1)
    assert row(engine, customers, 1)["email"] == "second@example.com"


def test_duplicates_and_shuffled_order_keep_only_the_newest_state(engine, stripe_sandbox_url):
    url = stripe_sandbox_url
    add_customers(engine, 1)
    push(engine, url)
    client, external = by_hand(url), stripe_id(engine, "customers", 1)
    for n in range(5):
        client.v1.customers.update(external, params={"phone": f"+1666000{n}"})
    events = [e for e in stripe_events(url) if e["type"] == "customer.updated"]
    # Old before new is the easy case: deliver newest first, then each older one, then duplicates of all.
    assert store_events(engine, events[::-1]) == 5
    assert store_events(engine, events + events[:1]) == 0
    report = inbound(engine, url)
    assert row(engine, customers, 1)["phone"] == client.v1.customers.retrieve(external).phone == "+16660004"
    assert report.applied + report.stale + report.fetches >= 5 and report.failed == 0


def test_newest_wins_between_a_stripe_edit_and_a_newer_catalog_edit(engine, stripe_sandbox_url):
    url = stripe_sandbox_url
    add_customers(engine, 2)
    push(engine, url)
    client = by_hand(url)
    client.v1.customers.update(stripe_id(engine, "customers", 1), params={"phone": "+19990001"})
    client.v1.customers.update(stripe_id(engine, "customers", 2), params={"phone": "+19990002"})
    # Customer 1 is edited in the catalog after the Stripe edit; customer 2's catalog edit is older.
    edit(engine, customers, 1, phone="+18880001", updated_at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=5))
    edit(engine, customers, 2, name="Renamed", updated_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5))
    pull(engine, url)
    report = inbound(engine, url)
    assert (report.applied, report.conflicts_lost) == (1, 1)
    assert row(engine, customers, 1)["phone"] == "+18880001"
    assert row(engine, customers, 2)["phone"] == "+19990002"
    sent = push(engine, url)  # the catalog's winner goes out, and so does customer 2's unsent rename
    assert sent.updated == 2
    assert client.v1.customers.retrieve(stripe_id(engine, "customers", 1)).phone == "+18880001"


def test_a_customer_deleted_in_stripe_is_unlinked_then_recreated_and_a_late_update_is_stale(
        engine, stripe_sandbox_url):
    url = stripe_sandbox_url
    add_customers(engine, 1)
    push(engine, url)
    client, old = by_hand(url), stripe_id(engine, "customers", 1)
    client.v1.customers.update(old, params={"email": "late@example.com"})
    events = stripe_events(url)
    client.v1.customers.delete(old)
    deleted = [e for e in stripe_events(url) if e["type"] == "customer.deleted"]
    store_events(engine, deleted)  # the delete arrives first, the update after it
    assert inbound(engine, url).deletes == 1
    store_events(engine, events)
    assert inbound(engine, url).applied == 0
    assert row(engine, customers, 1)["email"] == "c1@example.com" and row(engine, customers, 1)["deleted_at"] is None
    assert push(engine, url).created == 1  # re-created by the next outbound run
    new = stripe_id(engine, "customers", 1)
    assert new != old and client.v1.customers.retrieve(new).metadata["zenskar_id"] == "1"
    pull(engine, url)
    assert inbound(engine, url).applied == 0  # the re-creation's events are echoes; the old object's are stale


def test_same_second_events_that_disagree_are_settled_by_reading_the_object(engine, stripe_sandbox_url):
    url = stripe_sandbox_url
    add_customers(engine, 1)
    push(engine, url)
    client, external = by_hand(url), stripe_id(engine, "customers", 1)
    for n in range(3):
        client.v1.customers.update(external, params={"phone": f"+1777000{n}"})
    events = [e for e in stripe_events(url) if e["type"] == "customer.updated"]
    second = events[-1]["created"]
    for event in events:
        event["created"] = second  # Stripe stamps in seconds: three edits in one second have one time
    store_events(engine, events[::-1])
    report = inbound(engine, url)
    assert report.fetches == 1 and report.applied == 1 and report.stale == 2
    assert row(engine, customers, 1)["phone"] == "+17770002"


def test_an_invoice_paid_in_stripe_turns_paid_in_the_catalog_with_its_time(engine, stripe_sandbox_url):
    url = stripe_sandbox_url
    add_customers(engine, 1)
    push(engine, url)
    add_invoice(engine, 10, 1)
    assert push(engine, url, "invoices").created == 1
    invoice = by_hand(url).v1.invoices.pay(stripe_id(engine, "invoices", 10), params={"paid_out_of_band": True})
    pull(engine, url)
    report = inbound(engine, url, "invoices")
    assert report.applied == 1 and report.failed == 0
    paid = row(engine, invoices, 10)
    assert paid["status"] == "paid"
    assert paid["paid_at"].replace(tzinfo=dt.timezone.utc).timestamp() == invoice.status_transitions.paid_at
    assert push(engine, url, "invoices").api_calls == 0


def test_bad_events_fail_alone_with_their_reason_and_wait_to_be_retried(engine, stripe_sandbox_url):
    url = stripe_sandbox_url
    add_customers(engine, 1)
    push(engine, url)
    add_invoice(engine, 10, 1)
    push(engine, url, "invoices")
    external = stripe_id(engine, "invoices", 10)
    [created] = [e for e in stripe_events(url) if e["type"] == "invoice.finalized"]
    strange = json.loads(json.dumps(created)) | {"id": "evt_strange", "type": "invoice.updated",
                                                 "request": {"id": None, "idempotency_key": None}}
    strange["data"]["object"]["status"] = "disputed"
    store_events(engine, [strange])
    report = inbound(engine, url, "invoices")
    assert report.failed == 1 and report.failures[0]["code"] == "unknown_value"
    assert "'disputed' is not a known value" in report.failures[0]["reason"]
    [event] = InboxStore(engine).rows(event_id="evt_strange")
    assert event["status"] == "failed" and event["next_attempt_at"] is not None and event["attempts"] == 1
    assert row(engine, invoices, 10)["status"] == "issued"
    # A row gone from the catalog: the event fails as missing_row, the others apply.
    with engine.begin() as connection:
        connection.execute(invoices.delete().where(invoices.c.id == 10))
    by_hand(url).v1.invoices.void_invoice(external)
    add_customers_edit = by_hand(url).v1.customers.update(stripe_id(engine, "customers", 1),
                                                          params={"phone": "+15550009"})
    pull(engine, url)
    assert inbound(engine, url, "invoices").failures[0]["code"] == "missing_row"
    assert inbound(engine, url).applied == 1 and add_customers_edit.phone == row(engine, customers, 1)["phone"]
    assert "missing_row" in outcomes(engine, "invoices")
    assert MappingStore(engine).rows("invoices", "stripe")[0]["status"] == "synced"


def test_uncollectible_and_void_come_back_and_uncollectible_goes_out(engine, stripe_sandbox_url):
    url = stripe_sandbox_url
    add_customers(engine, 1)
    push(engine, url)
    add_invoice(engine, 10, 1)
    add_invoice(engine, 11, 1)
    add_invoice(engine, 12, 1)
    push(engine, url, "invoices")
    client = by_hand(url)
    client.v1.invoices.mark_uncollectible(stripe_id(engine, "invoices", 10))
    voided = client.v1.invoices.void_invoice(stripe_id(engine, "invoices", 11))
    pull(engine, url)
    assert inbound(engine, url, "invoices").applied == 2
    assert row(engine, invoices, 10)["status"] == "uncollectible"
    assert (row(engine, invoices, 11)["status"], row(engine, invoices, 11)["voided_at"].replace(
        tzinfo=dt.timezone.utc).timestamp()) == ("void", voided.status_transitions.voided_at)
    edit(engine, invoices, 12, status="uncollectible")  # billing writes one off: Stripe follows
    assert push(engine, url, "invoices").updated == 1
    assert client.v1.invoices.retrieve(stripe_id(engine, "invoices", 12)).status == "uncollectible"
    pull(engine, url)
    assert inbound(engine, url, "invoices").applied == 0  # its events are echoes
