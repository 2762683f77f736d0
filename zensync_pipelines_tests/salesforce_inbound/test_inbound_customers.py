"""Sales-side edits into the customers catalog through the one inbound engine, against the sandbox over HTTPS:
Account phone/address and Contact email/phone newest-wins, zensync's own writes as echoes, an Account made by
hand adopted (tagged at once, no duplicate on the next outbound run), a deleted Account re-created."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import select, update

from zensync_pipelines.catalogs.customers import SPEC
from zensync_pipelines.dagster_defs.inbound_systems import INBOUND_SYSTEMS
from zensync_pipelines.demo.tables import customers
from zensync_pipelines.engine.inbound.run import InboundRun
from zensync_pipelines.store.inbound_apply import InboundTables
from zensync_pipelines.store.inbox import InboxStore
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines.store.state import StateStore
from zensync_pipelines.systems.salesforce.polling import SalesforcePoller
from zensync_pipelines_tests.salesforce.conftest import resource_for, run_engine, seeded, soql

ROUTES = {"Account": "customers", "Contact": "customers"}
QUERY = "GET /services/data/{version}/queryAll"


def poll(sb, engine) -> None:
    adapter = resource_for(sb).adapter()
    SalesforcePoller(adapter.changes, InboxStore(engine), StateStore(engine), ROUTES,
                     overlap=dt.timedelta(minutes=10)).tick()


def inbound(sb, engine):
    decoder, fetcher, adopter = INBOUND_SYSTEMS["salesforce"].parts(resource_for(sb))
    return InboundRun(SPEC, "salesforce", InboundTables(engine), decoder, fetcher, "inbound", adopter=adopter).run()


def row(engine, internal_id):
    with engine.connect() as connection:
        return connection.execute(select(customers).where(customers.c.id == int(internal_id))).one()._mapping


def linked(engine, object_type):
    return {m["internal_id"]: m for m in MappingStore(engine).rows("customers", "salesforce")
            if m["object_type"] == object_type}


def synced(sb, database_url, count=3):
    engine = seeded(database_url, count)
    report = run_engine(engine, resource_for(sb).adapter())
    assert report.failed == 0
    return engine


def test_sales_edits_come_back_newest_wins_and_zensyncs_writes_are_echoes(sb, sales, database_url):
    engine = synced(sb, database_url)
    accounts, contacts = linked(engine, "Account"), linked(engine, "Contact")
    first, second = sorted(accounts)[:2]
    sales.Account.update(accounts[first]["external_id"], {"Phone": "+1 555 0100", "BillingCity": "Lyon"})
    sales.Contact.update(contacts[first]["external_id"], {"Email": "new.address@example.com"})
    # The catalog changed `second` after the sales edit below: the catalog's newer value stays.
    sales.Account.update(accounts[second]["external_id"], {"Phone": "+1 555 0200"})
    with engine.begin() as connection:
        connection.execute(update(customers).where(customers.c.id == int(second)).values(
            phone="+44 20 0000", updated_at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=1)))
    poll(sb, engine)
    sb.counters.reset()
    report = inbound(sb, engine)
    assert report.failed == 0
    assert (row(engine, first)["phone"], row(engine, first)["city"]) == ("+1 555 0100", "Lyon")
    assert row(engine, first)["email"] == "new.address@example.com"
    assert row(engine, second)["phone"] == "+44 20 0000" and report.conflicts_lost == 1
    # The outbound run's own creations, polled too, are echoes: no catalog write.
    assert report.echo >= 3
    # Current state read with zensync's login: one SOQL IN per object type for the whole batch, counted.
    assert sb.counters.snapshot().get(QUERY, 0) == 2
    assert report.fetches >= 2
    # The next outbound run sends the catalog's winner back to Salesforce (and the new phone to the row's
    # Contact, which mirrors it); then all is in sync: a third run sends nothing.
    again = run_engine(engine, resource_for(sb).adapter())
    assert (again.updated, again.failed) == (3, 0)
    assert run_engine(engine, resource_for(sb).adapter()).updated == 0
    [account] = soql(sb, f"SELECT Phone FROM Account WHERE Zenskar_Id__c = '{second}'")
    assert account["Phone"] == "+44 20 0000"
    poll(sb, engine)
    echoes = inbound(sb, engine)
    assert (echoes.applied, echoes.failed) == (0, 0) and echoes.echo >= 1  # that write came back as an echo


def test_an_account_made_by_hand_is_adopted_once_and_not_duplicated(sb, sales, database_url):
    engine = synced(sb, database_url, 2)
    made = sales.Account.create({"Name": "Walk-in Traders", "Phone": "+1 555 0300", "BillingCity": "Oslo"})["id"]
    poll(sb, engine)
    report = inbound(sb, engine)
    assert (report.applied, report.failed) == (1, 0)
    [new_id] = [i for i, m in linked(engine, "Account").items() if m["external_id"] == made]
    assert (row(engine, new_id)["name"], row(engine, new_id)["phone"]) == ("Walk-in Traders", "+1 555 0300")
    [tagged] = soql(sb, f"SELECT Zenskar_Id__c FROM Account WHERE Id = '{made}'")
    assert tagged["Zenskar_Id__c"] == new_id  # written back at once, before the next outbound run
    run_engine(engine, resource_for(sb).adapter())
    names = [a["Name"] for a in soql(sb, "SELECT Name FROM Account")]
    assert names.count("Walk-in Traders") == 1 and len(names) == 3
    poll(sb, engine)
    assert inbound(sb, engine).applied == 0  # the tag write and the upsert are zensync's echoes


def test_an_account_deleted_in_salesforce_is_recreated_by_the_next_outbound_run(sb, sales, database_url):
    engine = synced(sb, database_url, 2)
    accounts = linked(engine, "Account")
    gone = sorted(accounts)[0]
    sales.Account.delete(accounts[gone]["external_id"])
    poll(sb, engine)
    report = inbound(sb, engine)
    assert (report.deletes, report.failed) == (1, 0)
    assert linked(engine, "Account")[gone]["status"] == "deleted"
    run_engine(engine, resource_for(sb).adapter())
    [again] = soql(sb, f"SELECT Id FROM Account WHERE Zenskar_Id__c = '{gone}'")
    assert again["Id"] != accounts[gone]["external_id"]
    assert linked(engine, "Account")[gone]["external_id"] == again["Id"]


def test_a_forged_notification_writes_only_what_salesforce_holds(sb, sales, database_url):
    """Field values in a message are hints: the record's current state, read with zensync's login, is applied."""
    import json

    from zensync_pipelines.sandbox.salesforce.auth import SALES_USER_ID
    from zensync_pipelines.store.inbox import NewInboundEvent

    engine = synced(sb, database_url, 2)
    account = linked(engine, "Account")["1"]["external_id"]
    before = row(engine, "1")["phone"]
    sales.Account.update(account, {"BillingCity": "Bergen"})  # a real edit, which the forged message claims too
    forged = {"attributes": {"type": "Account"}, "Id": account, "Phone": "+1 666 0000", "LastModifiedById":
              SALES_USER_ID, "SystemModstamp": "2030-01-01T00:00:00.000Z"}
    InboxStore(engine).add([NewInboundEvent(
        system="salesforce", event_id="04l000000000099AAA", event_type="changed", catalog="customers",
        object_type="Account", external_id=account, occurred_at=dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc),
        payload=json.dumps(forged))])
    report = inbound(sb, engine)
    assert report.failed == 0 and report.fetches >= 1
    assert row(engine, "1")["phone"] == before  # Salesforce holds the old phone: nothing forged reaches the row
    assert row(engine, "1")["city"] == "Bergen"  # the real edit, read from Salesforce, is applied
    assert row(engine, "1")["updated_at"].year < 2030  # at the record's own time, not the forged one
