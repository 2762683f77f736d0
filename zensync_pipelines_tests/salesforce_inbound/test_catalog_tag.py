"""The inbound path reads a catalog's tag from the external-id field the catalog declares, never from a constant:
the contacts fixture (Zenskar_Contact_Id__c) takes its Contacts' email edits, and a customers' Contact (tagged in
Zenskar_Id__c with an id that is also a contacts row's) is no link to that row. Real simple-salesforce over HTTPS
to a sandbox org that knows the field; polled into the inbox, applied by the one inbound engine."""

import datetime as dt

from simple_salesforce import Salesforce
from sqlalchemy import select

from zensync_pipelines.dagster_defs.inbound_systems import INBOUND_SYSTEMS
from zensync_pipelines.demo.tables import customers
from zensync_pipelines.engine.inbound.run import InboundRun
from zensync_pipelines.sandbox.salesforce import SalesforceSandbox
from zensync_pipelines.sandbox.salesforce.auth import SALES_USER_ID
from zensync_pipelines.store.inbound_apply import InboundTables
from zensync_pipelines.store.inbox import InboxStore
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines.store.state import StateStore
from zensync_pipelines.systems.identity import tag_fields
from zensync_pipelines.systems.salesforce.inbound import SalesforceAdopter
from zensync_pipelines.systems.salesforce.polling import SalesforcePoller
from zensync_pipelines_tests.extensibility.contacts import OWN_FIELD, contacts, contacts_spec, schema_with_own_field
from zensync_pipelines_tests.salesforce.conftest import resource_for, run_engine, seeded, soql

CONTACTS = contacts_spec(OWN_FIELD, two_way=True)


def test_contacts_read_their_own_tag_and_a_customers_contact_is_no_link(database_url, tmp_path):
    assert tag_fields(CONTACTS, "salesforce") == {"Contact": OWN_FIELD}
    engine = seeded(database_url, 6)
    now = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=5)
    contacts.create(engine)
    with engine.begin() as connection:  # contact 6 is refused (bad email): it has no Contact in Salesforce
        connection.execute(contacts.insert(), [{"id": i, "customer_id": i, "name": f"Extra Person{i}",
                                                "email": f"extra{i}@example.com" if i < 6 else "not-an-email",
                                                "created_at": now, "updated_at": now} for i in range(1, 7)])
    with SalesforceSandbox(schema_file=schema_with_own_field(tmp_path)) as sb:
        adapter = resource_for(sb).adapter()
        assert run_engine(engine, adapter).failed <= 2  # customers: the demo breaks a few rows on purpose
        assert run_engine(engine, adapter, CONTACTS).created == 5
        ours = {m["internal_id"]: m["external_id"] for m in MappingStore(engine).rows("contacts", "salesforce")
                if m["external_id"]}
        [customer_six] = soql(sb, "SELECT Id FROM Contact WHERE Zenskar_Id__c = '6'")
        sales = Salesforce(instance_url=sb.instance_url, session_id=sb.new_session(SALES_USER_ID),
                           session=sb.requests_session())
        sales.Contact.update(ours["1"], {"Email": "sales.edit@example.com"})
        sales.Contact.update(customer_six["Id"], {"Email": "customer.six@example.com"})

        SalesforcePoller(adapter.changes, InboxStore(engine), StateStore(engine), {"Contact": "contacts"},
                         overlap=dt.timedelta(minutes=10)).tick()
        decoder, fetcher, adopter = INBOUND_SYSTEMS["salesforce"].parts(resource_for(sb),
                                                                        tag_fields(CONTACTS, "salesforce"))
        report = InboundRun(CONTACTS, "salesforce", InboundTables(engine), decoder, fetcher, "inbound",
                            adopter=adopter).run()
        # With Zenskar_Id__c read as the tag, customer 6's Contact claimed contacts row 6: a failed event.
        assert (report.applied, report.failed) == (1, 0) and report.untracked >= 1, report.failures
        with engine.connect() as connection:
            emails = dict(connection.execute(select(contacts.c.id, contacts.c.email)).all())
            six = connection.execute(select(customers.c.email).where(customers.c.id == 6)).scalar_one()
        assert emails[1] == "sales.edit@example.com" and emails[6] == "not-an-email"
        assert six != "customer.six@example.com"  # the contacts catalog never writes customers

        made = sales.Contact.create({"LastName": "Walk-in"})["id"]  # adopting writes the catalog's own field
        SalesforceAdopter(adapter, tag_fields(CONTACTS, "salesforce")).adopt("Contact", made, "99")
        [tagged] = soql(sb, f"SELECT Zenskar_Id__c, {OWN_FIELD} FROM Contact WHERE Id = '{made}'")
        assert (tagged[OWN_FIELD], tagged["Zenskar_Id__c"]) == ("99", None)
