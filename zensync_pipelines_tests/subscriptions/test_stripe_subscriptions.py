"""subscriptions -> Stripe with the real SDK against the Stripe sandbox, on SQLite and PostgreSQL: a Subscription
on the plan's Price for the row's interval, quantity and plan changes moving the one item, cancels both ways,
status back from Stripe, reruns that make no call, and no ping-pong."""

from __future__ import annotations

import time

import requests

from zensync_pipelines.store.inbox import InboxStore
from zensync_pipelines_tests.inbound.helpers import by_hand, inbound, pull, push

from .helpers import add_catalog, edit, mapping, price_of, sub_row


def subscription(url: str, engine, sub_id: int):
    return by_hand(url).v1.subscriptions.retrieve(mapping(engine, "subscriptions", "stripe", sub_id,
                                                          "subscription")["external_id"])


def test_subscriptions_wait_for_customer_and_plan_then_sync_on_the_interval_price(engine, stripe_sandbox_url):
    url = stripe_sandbox_url
    add_catalog(engine, 3)
    edit(engine, 3, interval="year")
    early = push(engine, url, "subscriptions")
    assert (early.waiting, early.api_calls) == (3, 0)
    assert "customer not synced to stripe yet" in mapping(engine, "subscriptions", "stripe", 1,
                                                          "subscription")["last_error"]
    push(engine, url, "customers")
    still = push(engine, url, "subscriptions")
    assert still.waiting == 3
    assert "plan's price not synced to stripe yet (plans row 3 has no yearly_price there)" in \
        mapping(engine, "subscriptions", "stripe", 3, "subscription")["last_error"]
    push(engine, url, "plans")
    report = push(engine, url, "subscriptions")
    assert (report.created, report.failed, report.waiting) == (3, 0, 0)
    for sub_id, interval in ((1, "month"), (2, "month"), (3, "year")):
        sub = subscription(url, engine, sub_id)
        [item] = sub["items"].data
        assert (item.price.id, item.quantity) == (price_of(engine, sub_id, interval), sub_id)
        assert (sub.status, sub.collection_method, sub.days_until_due) == ("active", "send_invoice", 30)
        assert sub.customer == mapping(engine, "customers", "stripe", sub_id, "customer")["external_id"]
        assert sub.metadata.to_dict() == {"zenskar_id": str(sub_id), "plan_id": str(sub_id), "interval": interval}
        invoice = by_hand(url).v1.invoices.retrieve(sub.latest_invoice)
        assert (invoice.status, invoice.total) == ("open", sub_id * (1000 if interval == "month" else 10000) * sub_id)
    again = push(engine, url, "subscriptions")
    assert (again.api_calls, again.skipped) == (0, 3)


def test_quantity_plan_and_interval_changes_move_the_one_item(engine, stripe_sandbox_url):
    url = stripe_sandbox_url
    add_catalog(engine, 2)
    for catalog in ("customers", "plans", "subscriptions"):
        push(engine, url, catalog)
    item_id = subscription(url, engine, 1)["items"].data[0].id
    edit(engine, 1, quantity=7)
    assert push(engine, url, "subscriptions").updated == 1
    [item] = subscription(url, engine, 1)["items"].data
    assert (item.id, item.price.id, item.quantity) == (item_id, price_of(engine, 1, "month"), 7)

    edit(engine, 1, plan_id=2)
    push(engine, url, "subscriptions")
    [item] = subscription(url, engine, 1)["items"].data
    assert (item.id, item.price.id, item.quantity) == (item_id, price_of(engine, 2, "month"), 7)

    edit(engine, 1, interval="year")
    push(engine, url, "subscriptions")
    sub = subscription(url, engine, 1)
    [item] = sub["items"].data
    assert (item.id, item.price.id) == (item_id, price_of(engine, 2, "year"))
    assert sub.metadata["interval"] == "year"
    # Nothing was billed for the plan change itself (billing invoices it); the new interval's period was.
    invoices = by_hand(url).v1.invoices.list({"customer": sub.customer})
    assert sorted(i.billing_reason for i in invoices.data) == ["subscription_create", "subscription_update"]
    assert push(engine, url, "subscriptions").api_calls == 0

    edit(engine, 2, interval="week")  # no Price for it: the row is invalid, naming the column and why
    bad = push(engine, url, "subscriptions")
    found = mapping(engine, "subscriptions", "stripe", 2, "subscription")
    assert (bad.failed, found["status"], found["last_error_code"], found["last_error_field"]) == \
        (1, "invalid", "invalid_choice", "interval")
    assert "'week' is not one of ['month', 'year']" in found["last_error"]


def test_cancel_from_the_catalog_at_period_end_now_and_by_deleting(engine, stripe_sandbox_url):
    url = stripe_sandbox_url
    add_catalog(engine, 3)
    for catalog in ("customers", "plans", "subscriptions"):
        push(engine, url, catalog)
    edit(engine, 1, cancel_at_period_end=True)
    edit(engine, 2, status="canceled")
    edit(engine, 3, deleted_at=sub_row(engine, 3)["updated_at"])
    report = push(engine, url, "subscriptions")
    assert (report.updated, report.deleted, report.failed) == (2, 1, 0)
    first = subscription(url, engine, 1)
    assert (first.status, first.cancel_at_period_end, first.cancel_at) == \
        ("active", True, first["items"].data[0].current_period_end)
    assert subscription(url, engine, 2).status == "canceled"
    third = by_hand(url).v1.subscriptions.list({"status": "canceled"}).data
    assert {s.metadata["zenskar_id"] for s in third} == {"2", "3"}
    assert push(engine, url, "subscriptions").api_calls == 0
    # A cancelled subscription cannot come back: a catalog change to it is a conflict naming it.
    edit(engine, 2, status="active", quantity=4)
    refused = push(engine, url, "subscriptions")
    found = mapping(engine, "subscriptions", "stripe", 2, "subscription")
    assert (refused.failed, found["last_error_code"]) == (1, "subscription_canceled")
    assert "is canceled in Stripe and cannot change" in found["last_error"]


def test_cancelled_in_the_dashboard_shows_canceled_in_the_catalog_without_ping_pong(engine, stripe_sandbox,
                                                                                      stripe_sandbox_url):
    url = stripe_sandbox_url
    add_catalog(engine, 2)
    for catalog in ("customers", "plans", "subscriptions"):
        push(engine, url, catalog)
    pull(engine, url)
    assert inbound(engine, url, "subscriptions").applied == 0  # zensync's own creates are echoes
    time.sleep(1.05)  # a person's click comes a second later than zensync's writes
    by_hand(url).v1.subscriptions.cancel(subscription(url, engine, 1).id)
    by_hand(url).v1.subscriptions.update(subscription(url, engine, 2).id, {"cancel_at_period_end": True})
    pull(engine, url)
    applied = inbound(engine, url, "subscriptions")
    assert applied.applied == 2
    first, second = sub_row(engine, 1), sub_row(engine, 2)
    assert (first["status"], first["canceled_at"] is not None, first["started_at"] is not None) == \
        ("canceled", True, True)
    assert (second["status"], second["cancel_at_period_end"]) == ("active", True)
    assert push(engine, url, "subscriptions").api_calls == 0  # the applied changes are not sent back
    # Stripe's own clock ends the period of the one set to cancel then: the catalog follows.
    requests.post(f"{url}/_sandbox/subscriptions", json={"subscription": subscription(url, engine, 2).id,
                                                         "action": "end_period"}, timeout=10)
    pull(engine, url)
    assert inbound(engine, url, "subscriptions").applied == 1
    assert sub_row(engine, 2)["status"] == "canceled"
    events = len(InboxStore(engine).rows())
    for _ in range(2):
        assert push(engine, url, "subscriptions").api_calls == 0
        assert inbound(engine, url, "subscriptions").applied == 0
    pull(engine, url)
    assert len(InboxStore(engine).rows()) == events


def test_read_back_finds_a_cancel_whose_event_was_lost_and_never_calls_it_deleted(engine, stripe_sandbox_url):
    from zensync_pipelines.dagster_defs.drift import run_read_back
    from zensync_pipelines.store.catalog import CatalogTables
    from zensync_pipelines.store.mappings import MappingStore
    from zensync_pipelines_tests.inbound.helpers import SPECS, adapter

    url = stripe_sandbox_url
    add_catalog(engine, 2)
    for catalog in ("customers", "plans", "subscriptions"):
        push(engine, url, catalog)

    def read_back():
        return run_read_back(SPECS["subscriptions"], "stripe", adapter(url), engine, CatalogTables(engine),
                             MappingStore(engine))

    # When each started came with the creates' answers (engine/write_back.py): the read-back finds nothing new.
    assert sub_row(engine, 1)["started_at"] is not None
    first = read_back()
    assert (first.checked, first.in_sync, first.inbound, first.missing) == (2, 2, 0, 0)
    by_hand(url).v1.subscriptions.cancel(subscription(url, engine, 1).id)  # its webhook never comes
    found = read_back()
    assert (found.in_sync, found.inbound, found.missing) == (1, 1, 0)  # listed with status=all: not "deleted"
    assert inbound(engine, url, "subscriptions").applied == 1
    assert sub_row(engine, 1)["status"] == "canceled"
    assert push(engine, url, "subscriptions").api_calls == 0
