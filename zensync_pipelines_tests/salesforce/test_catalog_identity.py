"""Two catalogs writing Salesforce Contacts, each through its own external-id field, never meet: the contacts
fixture of issue 30 (Zenskar_Contact_Id__c) syncs beside the customers' Contacts (Zenskar_Id__c) without touching
them, though contact 1 and customer 1 share the id 1. Real simple-salesforce over HTTPS to the sandbox, whose org
knows the custom field from a schema file, as `zensync sandbox salesforce --schema` loads one."""

import datetime as dt
from sqlalchemy import update

from zensync_pipelines.sandbox.salesforce import SalesforceSandbox
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines_tests.extensibility.contacts import OWN_FIELD, contacts, contacts_spec, schema_with_own_field

from .conftest import resource_for, run_engine, seeded, soql

CONTACTS = contacts_spec(OWN_FIELD)
QUERY = f"SELECT Id, Zenskar_Id__c, {OWN_FIELD}, Email, Account.Zenskar_Id__c FROM Contact"


def test_contacts_and_the_customers_contacts_stay_apart(database_url, tmp_path):
    engine = seeded(database_url, 6)
    now = dt.datetime.now(dt.timezone.utc)
    contacts.create(engine)
    with engine.begin() as connection:  # contact i belongs to customer i: the ids the two catalogs share
        connection.execute(contacts.insert(), [{"id": i, "customer_id": i, "name": f"Extra Person{i}",
                                                "email": f"extra{i}@example.com", "created_at": now,
                                                "updated_at": now} for i in range(1, 6)])
    with SalesforceSandbox(schema_file=schema_with_own_field(tmp_path)) as sb:
        adapter = resource_for(sb).adapter()
        assert run_engine(engine, adapter).created >= 8  # customers: Accounts and their Contacts
        theirs = {r["Id"]: r for r in soql(sb, QUERY)}
        assert run_engine(engine, adapter, CONTACTS).created == 5
        after = {r["Id"]: r for r in soql(sb, QUERY)}
        assert len(after) == len(theirs) + 5
        assert all(after[record_id] == record for record_id, record in theirs.items())  # untouched
        ours = {r[OWN_FIELD]: r for r in after.values() if r["Id"] not in theirs}
        assert sorted(ours) == ["1", "2", "3", "4", "5"]
        for row_id, record in ours.items():
            assert (record["Email"], record["Zenskar_Id__c"]) == (f"extra{row_id}@example.com", None)
            assert record["Account"]["Zenskar_Id__c"] == row_id  # on its customer's Account
        store = MappingStore(engine)
        customer_contacts = {m["external_id"] for m in store.rows("customers", "salesforce")
                             if m["object_type"] == "Contact"}
        assert {m["external_id"] for m in store.rows("contacts", "salesforce")} == set(ours[i]["Id"] for i in ours)
        assert not customer_contacts & {r["Id"] for r in ours.values()}

        # An edit of contact 1 reaches its own Contact only; customer 1's keeps the customer's email.
        with engine.begin() as connection:
            connection.execute(update(contacts).where(contacts.c.id == 1).values(
                email="moved@example.com", updated_at=now + dt.timedelta(seconds=1)))
        assert run_engine(engine, adapter, CONTACTS).updated == 1
        final = {r["Id"]: r for r in soql(sb, QUERY)}
        assert final[ours["1"]["Id"]]["Email"] == "moved@example.com"
        assert all(final[record_id] == record for record_id, record in theirs.items())
