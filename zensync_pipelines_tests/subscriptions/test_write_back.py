"""The values Stripe decides reach the row with zensync's own write (engine/write_back.py), on SQLite and PostgreSQL,
through the real SDK and the Stripe sandbox: a subscription's start and the time of a cancel, an invoice's paid_at;
the next outbound run makes no call, and the echoes of those writes change nothing."""

from __future__ import annotations

import datetime as dt

from zensync_pipelines.demo.tables import invoices
from zensync_pipelines_tests.inbound.helpers import add_invoice, by_hand, inbound, pull, push, row, stripe_id
from zensync_pipelines_tests.inbound.helpers import edit as edit_row

from .helpers import add_catalog, edit, mapping, sub_row


def utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)  # SQLite reads naive UTC


def stripe_time(seconds: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.timezone.utc)


def test_started_at_and_canceled_at_arrive_with_the_sync_run_that_wrote_them(engine, stripe_sandbox_url):
    url = stripe_sandbox_url
    add_catalog(engine, 3)
    for catalog in ("customers", "plans"):
        push(engine, url, catalog)
    planned_cursor = utc(sub_row(engine, 1)["updated_at"])
    report = push(engine, url, "subscriptions")
    assert (report.created, report.failed) == (3, 0)
    for sub_id in (1, 2, 3):
        sub = by_hand(url).v1.subscriptions.retrieve(mapping(engine, "subscriptions", "stripe", sub_id,
                                                             "subscription")["external_id"])
        found = sub_row(engine, sub_id)
        assert found["started_at"] is not None, "started_at must come with the create's answer"
        assert utc(found["started_at"]) == stripe_time(sub.start_date)
        assert (found["status"], found["canceled_at"]) == ("active", None)
    # The cursor moved, so the Salesforce copy's sensor sees the new started_at.
    assert utc(sub_row(engine, 1)["updated_at"]) > planned_cursor
    assert push(engine, url, "subscriptions").api_calls == 0

    edit(engine, 1, cancel_at_period_end=True)  # Stripe stamps canceled_at when the cancel is asked for
    edit(engine, 2, status="canceled")  # cancel now
    cancels = push(engine, url, "subscriptions")
    assert (cancels.updated, cancels.failed) == (2, 0)
    for sub_id, status in ((1, "active"), (2, "canceled")):
        sub = by_hand(url).v1.subscriptions.retrieve(mapping(engine, "subscriptions", "stripe", sub_id,
                                                             "subscription")["external_id"])
        found = sub_row(engine, sub_id)
        assert (sub.status, found["status"]) == (status, status)
        assert found["canceled_at"] is not None and utc(found["canceled_at"]) == stripe_time(sub.canceled_at)
    assert sub_row(engine, 3)["canceled_at"] is None
    assert push(engine, url, "subscriptions").api_calls == 0

    # Undoing "cancel at period end" clears Stripe's canceled_at, and the row's with it.
    edit(engine, 1, cancel_at_period_end=False)
    push(engine, url, "subscriptions")
    assert sub_row(engine, 1)["canceled_at"] is None

    # The echoes of all those writes: nothing to apply, and still nothing to send.
    pull(engine, url)
    assert inbound(engine, url, "subscriptions").applied == 0
    for _ in range(2):
        assert push(engine, url, "subscriptions").api_calls == 0


def test_an_invoice_marked_paid_in_the_catalog_gets_stripes_paid_at(engine, stripe_sandbox_url):
    url = stripe_sandbox_url
    add_catalog(engine, 1)
    add_invoice(engine, 10, 1, status="issued")
    push(engine, url, "customers")
    assert push(engine, url, "invoices").created == 1
    assert row(engine, invoices, 10)["paid_at"] is None
    edit_row(engine, invoices, 10, status="paid")
    assert push(engine, url, "invoices").updated == 1
    paid = by_hand(url).v1.invoices.retrieve(stripe_id(engine, "invoices", 10))
    assert paid.status == "paid"
    found = row(engine, invoices, 10)
    assert found["paid_at"] is not None and utc(found["paid_at"]) == stripe_time(paid.status_transitions.paid_at)
    assert push(engine, url, "invoices").api_calls == 0
    pull(engine, url)
    assert inbound(engine, url, "invoices").applied == 0
    assert push(engine, url, "invoices").api_calls == 0


def test_a_row_changed_since_its_write_was_planned_keeps_its_values(engine):
    from zensync_pipelines.catalogs.subscriptions import SPEC
    from zensync_pipelines.engine.types import CREATE, SYNCED, Outcome, WriteBack
    from zensync_pipelines.store.mappings import MappingStore

    add_catalog(engine, 2)
    started = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    planned = {sub_id: sub_row(engine, sub_id)["updated_at"] for sub_id in (1, 2)}
    edit(engine, 2, quantity=9)  # an edit while the write was under way

    def written(sub_id: int) -> Outcome:
        moved = utc(planned[sub_id]) + dt.timedelta(seconds=1)
        return Outcome("subscriptions", "stripe", "subscription", str(sub_id), CREATE, SYNCED,
                       external_id=f"sub_{sub_id}", fingerprint="f",
                       write_back=WriteBack({"started_at": started, "updated_at": moved}, planned[sub_id]))

    outcomes = [written(1), written(2)]
    MappingStore(engine).record_outcomes("run", outcomes, spec=SPEC)
    assert utc(sub_row(engine, 1)["started_at"]) == started
    second = sub_row(engine, 2)
    assert (second["started_at"], second["quantity"]) == (None, 9)
    assert mapping(engine, "subscriptions", "stripe", 2, "subscription")["external_id"] == "sub_2"
