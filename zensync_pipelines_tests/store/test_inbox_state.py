"""The inbound inbox and the state table, on SQLite and on PostgreSQL."""

import datetime as dt

from zensync_pipelines.store.inbox import APPLIED, FAILED, PENDING, EventResult, InboxStore, NewInboundEvent
from zensync_pipelines.store.state import StateStore

T0 = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.timezone.utc)


def event(event_id, external_id="cus_1", event_type="customer.updated"):
    return NewInboundEvent("stripe", event_id, event_type, "customers", "customer", external_id, T0, '{"id": "x"}')


def test_a_redelivered_event_stores_nothing_new(engine):
    inbox = InboxStore(engine)
    assert inbox.add([event("evt_1"), event("evt_2")]) == 2
    assert inbox.add([event("evt_2"), event("evt_3")]) == 1
    assert inbox.add([event("evt_1")]) == 0
    assert [r["event_id"] for r in inbox.rows(system="stripe")] == ["evt_1", "evt_2", "evt_3"]
    assert {r["status"] for r in inbox.rows()} == {PENDING}


def test_due_events_mark_and_backlog(engine):
    inbox = InboxStore(engine)
    inbox.add([event("evt_1"), event("evt_2"), event("evt_3")])
    due = inbox.due("customers", "stripe")
    assert [r["event_id"] for r in due] == ["evt_1", "evt_2", "evt_3"]
    assert inbox.newest_due_id("customers", "stripe") == due[-1]["id"]
    later = dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5)
    with engine.begin() as connection:
        inbox.mark(connection, [EventResult(due[0]["id"], APPLIED, "applied"),
                                EventResult(due[1]["id"], FAILED, "invalid_value", "email: not an email", later)])
    assert [r["event_id"] for r in inbox.due("customers", "stripe")] == ["evt_3"]
    assert [r["event_id"] for r in inbox.due("customers", "stripe", now=later)] == ["evt_2", "evt_3"]
    backlog = inbox.backlog("customers", "stripe")
    assert (backlog["unapplied"], backlog["failed"]) == (2, 1)
    failed = inbox.rows(event_id="evt_2")[0]
    assert (failed["attempts"], failed["last_error"]) == (1, "email: not an email")
    assert inbox.newest_due_id("invoices", "stripe") is None


def test_state_round_trips_json(engine):
    store = StateStore(engine)
    assert store.get("salesforce", "api_usage", {}) == {}
    store.put("salesforce", "api_usage", {"used": 9, "limit": 10})
    store.put("salesforce", "api_usage", {"used": 10, "limit": 10})
    assert store.get("salesforce", "api_usage") == {"used": 10, "limit": 10}
    assert StateStore(engine, tenant="acme").get("salesforce", "api_usage") is None
