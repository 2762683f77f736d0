"""Two catalogs reading one object type back: the contacts fixture of issue 30 and the customers catalog both take
Salesforce Contacts' email edits. An event is routed by its link, not by its object type: each Contact's edit
reaches its own catalog's row, a deletion reaches the catalog whose mapping holds the record, and a Contact the
customers catalog re-creates stays the customers'. Real simple-salesforce over HTTPS to a sandbox org that knows
the contacts' field; polled into the inbox, applied by each catalog's inbound job as the code location builds it."""

import datetime as dt
from types import SimpleNamespace

from dagster import DagsterInstance, Definitions

from simple_salesforce import Salesforce
from sqlalchemy import select

from zensync_pipelines.catalogs.customers import SPEC as CUSTOMERS
from zensync_pipelines.dagster_defs.factory import build_catalog_definitions
from zensync_pipelines.dagster_defs.inbound import inbound_job_name
from zensync_pipelines.dagster_defs.resources import CatalogDatabase
from zensync_pipelines.dagster_defs.settings import AutomationSettings
from zensync_pipelines.demo.tables import customers
from zensync_pipelines.engine.spec import RECREATE, inbound_routes
from zensync_pipelines.sandbox.salesforce import SalesforceSandbox
from zensync_pipelines.sandbox.salesforce.auth import SALES_USER_ID
from zensync_pipelines.store.inbox import InboxStore
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines.store.state import StateStore
from zensync_pipelines.systems.identity import neighbours
from zensync_pipelines.systems.salesforce.polling import SalesforcePoller
from zensync_pipelines.systems.stripe import StripeResource
from zensync_pipelines_tests.extensibility.contacts import OWN_FIELD, contacts, contacts_spec, schema_with_own_field
from zensync_pipelines_tests.salesforce.conftest import resource_for, run_engine, seeded, soql

CONTACTS = contacts_spec(OWN_FIELD, two_way=True, on_delete=RECREATE)
SPECS = [CONTACTS, CUSTOMERS]  # load order: by file name


def test_each_contacts_edit_reaches_its_own_catalog_and_a_recreated_contact_stays_with_it(database_url, tmp_path):
    routes = inbound_routes(SPECS, "salesforce")
    assert routes == {"Contact": "contacts", "Account": "customers"}  # the first reader takes Contact events first
    assert [(n.catalog, n.tag_field, n.reads) for n in neighbours(SPECS, CONTACTS, "salesforce")["Contact"]] == \
        [("customers", "Zenskar_Id__c", True)]
    one_way = contacts_spec(OWN_FIELD)  # outbound only: its Contacts are its own, never a customer's to import
    assert [(n.catalog, n.tag_field, n.reads) for n in neighbours([one_way, CUSTOMERS], CUSTOMERS, "salesforce")
            ["Contact"]] == [("contacts", OWN_FIELD, False)]
    engine = seeded(database_url, 6)
    earlier = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    contacts.create(engine)
    with engine.begin() as connection:
        connection.execute(contacts.insert(), [{"id": i, "customer_id": i, "name": f"Extra Person{i}",
                                                "email": f"extra{i}@example.com", "created_at": earlier,
                                                "updated_at": earlier} for i in range(1, 6)])
    with SalesforceSandbox(schema_file=schema_with_own_field(tmp_path)) as sb:
        adapter = resource_for(sb).adapter()
        run_engine(engine, adapter)
        assert run_engine(engine, adapter, CONTACTS).created == 5
        ours = mapped(engine, "contacts")
        theirs = mapped(engine, "customers")
        sales = Salesforce(instance_url=sb.instance_url, session_id=sb.new_session(SALES_USER_ID),
                           session=sb.requests_session())
        poller = SalesforcePoller(adapter.changes, InboxStore(engine), StateStore(engine),
                                  {"Contact": routes["Contact"]}, overlap=dt.timedelta(minutes=10))

        # The code location's way: each catalog's inbound job, built with every spec, so each knows its neighbours.
        resources = {"catalog_db": CatalogDatabase(url=database_url), "salesforce": resource_for(sb),
                     "stripe": StripeResource(api_key="sk_test_unused", api_base="http://127.0.0.1:9")}  # not called
        defs = Definitions.merge(*(build_catalog_definitions(spec, AutomationSettings(), specs=SPECS)
                                   for spec in SPECS), Definitions(resources=resources))
        instance = DagsterInstance.ephemeral()

        def apply(spec):
            result = defs.resolve_job_def(inbound_job_name(spec, "salesforce")).execute_in_process(instance=instance)
            assert result.success
            [event] = result.get_asset_materialization_events()
            return SimpleNamespace(**{k: v.value for k, v in event.materialization.metadata.items()})

        poller.tick()  # the creations, zensync's own writes (echoes), each drained by its catalog
        assert apply(CONTACTS).handed_off >= 5 and apply(CUSTOMERS).failed == 0
        assert not InboxStore(engine).rows(status="pending")
        sales.Contact.update(ours["1"], {"Email": "extra.one@example.com"})
        sales.Contact.update(theirs["2"], {"Email": "customer.two@example.com"})
        poller.tick()
        assert {e["catalog"] for e in InboxStore(engine).rows(status="pending")} == {"contacts"}
        first = apply(CONTACTS)
        assert (first.applied, first.handed_off, first.failed) == (1, 1, 0), first
        [handed] = InboxStore(engine).rows(status="pending")
        assert (handed["catalog"], handed["external_id"], handed["outcome"], handed["attempts"]) == \
            ("customers", theirs["2"], "handed_off", 0)
        second = apply(CUSTOMERS)
        assert (second.applied, second.handed_off, second.failed) == (1, 0, 0), second
        assert emails(engine, contacts)[1] == "extra.one@example.com"
        assert emails(engine, customers)[2] == "customer.two@example.com"
        assert emails(engine, contacts)[2] == "extra2@example.com"  # contact 2 shares the id 2, not the record

        # Customer 2's Contact is deleted in Salesforce: the customers catalog re-creates it (its policy) and the
        # new record's edits still reach customer 2, never contacts row 2.
        sales.Contact.delete(theirs["2"])
        poller.tick()
        assert apply(CONTACTS).handed_off == 1  # the deletion is the record's whose mapping holds it
        assert apply(CUSTOMERS).deletes == 1
        assert run_engine(engine, adapter).created == 1
        recreated = mapped(engine, "customers")["2"]
        assert recreated != theirs["2"]
        sales.Contact.update(recreated, {"Email": "customer.two.again@example.com"})
        poller.tick()
        mine = apply(CONTACTS)
        assert (mine.applied, mine.untracked, mine.failed) == (0, 0, 0) and mine.handed_off >= 1
        assert apply(CUSTOMERS).applied == 1
        assert emails(engine, customers)[2] == "customer.two.again@example.com"
        assert emails(engine, contacts)[2] == "extra2@example.com"
        assert recreated not in mapped(engine, "contacts").values()

        # The contacts catalog's own Contact deleted: contacts re-creates it, and it stays the contacts'.
        sales.Contact.delete(ours["3"])
        poller.tick()
        assert apply(CONTACTS).deletes == 1
        assert run_engine(engine, adapter, CONTACTS).created == 1
        again = mapped(engine, "contacts")["3"]
        sales.Contact.update(again, {"Email": "extra.three@example.com"})
        poller.tick()
        assert apply(CONTACTS).applied == 1
        assert emails(engine, contacts)[3] == "extra.three@example.com"
        assert emails(engine, customers)[3] != "extra.three@example.com"
        [record] = soql(sb, f"SELECT {OWN_FIELD}, Zenskar_Id__c FROM Contact WHERE Id = '{again}'")
        assert (record[OWN_FIELD], record["Zenskar_Id__c"]) == ("3", None)
        assert not InboxStore(engine).rows(status="pending") and not InboxStore(engine).rows(status="failed")


def mapped(engine, catalog):
    return {m["internal_id"]: m["external_id"] for m in MappingStore(engine).rows(catalog, "salesforce")
            if m["object_type"] == "Contact" and m["external_id"]}


def emails(engine, table):
    with engine.connect() as connection:
        return dict(connection.execute(select(table.c.id, table.c.email)).all())
