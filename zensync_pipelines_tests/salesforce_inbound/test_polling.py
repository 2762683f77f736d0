"""Reading Salesforce changes with zensync's own login: the poller into the inbox (cost when idle, overlap,
deletions, crash safety), the batched current-state fetch, identity, and the adapter's read_changes."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from zensync_pipelines.sandbox.salesforce.auth import ORG_ID, SALES_USER_ID, USER_ID
from zensync_pipelines.store.inbox import InboxStore
from zensync_pipelines.store.state import StateStore
from zensync_pipelines.systems.salesforce.connection import BudgetSpent
from zensync_pipelines.systems.salesforce.polling import SCOPE, SalesforcePoller
from zensync_pipelines_tests.salesforce.conftest import resource_for

ROUTES = {"Account": "customers", "Contact": "customers"}
FIELDS = {"Account": ["Name", "Phone", "Zenskar_Id__c"], "Contact": ["Email", "Phone", "Zenskar_Id__c"]}
QUERY, DELETED = "GET /services/data/{version}/queryAll", "GET /services/data/{version}/sobjects/{sobject}/deleted"


class Clock:
    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.timezone.utc)

    def __call__(self) -> dt.datetime:
        return self.now


def poller(adapter, engine, clock) -> SalesforcePoller:
    return SalesforcePoller(adapter.changes, InboxStore(engine), StateStore(engine), ROUTES, FIELDS, clock=clock)


def calls(sb, route: str) -> int:
    return sb.counters.snapshot().get(route, 0)


def test_identity_is_what_the_org_reports(adapter):
    identity = adapter.changes.identity()
    assert (identity.organization_id, identity.user_id) == (ORG_ID, USER_ID)


def test_poller_stores_changes_once_and_costs_one_query_per_object_when_idle(sb, adapter, sales, engine):
    clock = Clock()
    polling = poller(adapter, engine, clock)
    assert [r.stored for r in polling.tick()] == [0, 0]
    ids = [sales.Account.create({"Name": f"A{i}", "Phone": f"+1 555 010{i}"})["id"] for i in range(3)]
    sales.Account.update(ids[0], {"Phone": "+1 555 0199"})
    contact = sales.Contact.create({"LastName": "Lovelace", "Email": "ada@example.com"})["id"]
    reports = polling.tick()
    assert [(r.object_type, r.stored) for r in reports] == [("Account", 3), ("Contact", 1)]
    inbox = InboxStore(engine)
    events = {e["external_id"]: e for e in inbox.rows(system="salesforce")}
    assert set(events) == {*ids, contact}
    first = json.loads(events[ids[0]]["payload"])
    assert first["Phone"] == "+1 555 0199" and first["LastModifiedById"] == SALES_USER_ID
    assert events[ids[0]]["source"] == "poll" and events[ids[0]]["event_type"] == "changed"
    [record] = sales.query(f"SELECT SystemModstamp FROM Account WHERE Id = '{ids[0]}'")["records"]
    assert events[ids[0]]["occurred_at"].replace(tzinfo=dt.timezone.utc).isoformat(timespec="milliseconds") \
        .replace("+00:00", "+0000") == record["SystemModstamp"]
    assert StateStore(engine).get(SCOPE, "Account")["modstamp"].startswith(record["SystemModstamp"][:19])
    sb.counters.reset()
    for _ in range(5):  # idle: the overlap re-reads the same versions, which store nothing
        assert [r.stored for r in polling.tick()] == [0, 0]
    assert sb.counters.snapshot() == {QUERY: 10}
    assert len(inbox.rows(system="salesforce")) == 4


def test_deletions_from_the_query_and_from_deleted_are_one_event(sb, adapter, sales, engine):
    clock = Clock()
    polling = poller(adapter, engine, clock)
    polling.tick()
    gone = sales.Account.create({"Name": "Gone"})["id"]
    sales.Account.delete(gone)
    [account, _] = polling.tick()
    assert account.stored == 1 and not account.deletions_checked
    [event] = InboxStore(engine).rows(system="salesforce")
    assert (event["event_type"], event["external_id"]) == ("deleted", gone)
    sb.counters.reset()
    clock.now += dt.timedelta(minutes=6)
    [account, contact] = polling.tick()
    assert account.deletions_checked and contact.deletions_checked and account.stored == 0
    assert calls(sb, DELETED) == 2 and calls(sb, QUERY) == 2
    assert len(InboxStore(engine).rows(system="salesforce")) == 1


def test_cursor_moves_only_after_the_inbox_commit(sb, adapter, sales, engine, monkeypatch):
    clock = Clock()
    polling = poller(adapter, engine, clock)
    polling.tick()
    before = StateStore(engine).get(SCOPE, "Account")
    sales.Account.create({"Name": "Late"})

    def database_down(events):
        raise ConnectionError("database unavailable")

    monkeypatch.setattr(polling.inbox, "add", database_down)
    with pytest.raises(ConnectionError):
        polling.poll("Account")
    assert StateStore(engine).get(SCOPE, "Account") == before
    monkeypatch.undo()
    restarted = poller(adapter, engine, clock)  # a new process reads the stored cursor
    assert restarted.poll("Account").stored == 1


def test_current_state_is_one_in_query_per_batch(sb, adapter, sales):
    ids = [r["id"] for r in sales.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": [
        {"attributes": {"type": "Account"}, "Name": f"C{i}"} for i in range(150)]})]
    ids += [r["id"] for r in sales.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": [
        {"attributes": {"type": "Account"}, "Name": f"D{i}"} for i in range(100)]})]
    sales.Account.delete(ids[0])
    before, sb_before = adapter.api_calls, calls(sb, QUERY)
    unknown = "001" + "5g" + "Zz" + "0" * 8
    found = adapter.changes.current("Account", [i[:15] for i in ids] + [unknown], ["Name", "Phone"])
    assert calls(sb, QUERY) - sb_before == 2  # 251 ids: two IN queries of up to 200, not 251 calls
    assert adapter.api_calls - before >= 2
    assert found[ids[0]]["IsDeleted"] is True and found[ids[1]]["Name"] == "C1"
    assert found[ids[-1]]["attributes"] == {"type": "Account"} and "Phone" in found[ids[-1]]
    assert [k for k, v in found.items() if v is None] == [next(k for k in found if k.startswith(unknown))]


def test_polling_stops_at_the_api_budget(sb, engine):
    sb.configure(daily_api_limit=20)
    adapter = resource_for(sb, budget_share=0.5).adapter()
    polling = poller(adapter, engine, Clock())
    with pytest.raises(BudgetSpent, match="10"):
        for _ in range(20):
            polling.tick()
    assert sb.allocation.used() <= 10  # the rest of the day's calls stay for outbound writes
