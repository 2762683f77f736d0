"""Changed rows update their records in place; soft-deleted rows delete theirs, even when already gone."""

import datetime as dt

from simple_salesforce import Salesforce
from sqlalchemy import update

from zensync_pipelines.demo.tables import customers
from zensync_pipelines.store.mappings import MappingStore

from .conftest import account_ids, catalog_rows, resource_for, run_engine, seeded, soql, valid_ids, writes


def test_changes_update_in_place_and_deletes_remove_children_then_parents(sqlite_url, sb):
    engine = seeded(sqlite_url, 20)
    accounts, contacts = valid_ids(catalog_rows(engine))
    run_engine(engine, resource_for(sb).adapter())
    store = MappingStore(engine)
    before = {(m["internal_id"], m["object_type"]): m["external_id"] for m in store.rows("customers", "salesforce")}
    now = dt.datetime.now(dt.timezone.utc)
    with engine.begin() as connection:
        connection.execute(update(customers).where(customers.c.id == 1).values(phone="+15550000000", updated_at=now))
        connection.execute(update(customers).where(customers.c.id.in_([2, 3])).values(deleted_at=now, updated_at=now))
    # Someone already deleted row 3's Contact in Salesforce: deleting it again must count as done.
    sf = Salesforce(instance_url=sb.instance_url, session_id=sb.new_session(), session=sb.requests_session())
    sf.Contact.delete(before[("3", "Contact")])
    sb.counters.reset()

    report = run_engine(engine, resource_for(sb).adapter())

    assert (report.updated, report.deleted) == (2, 4)  # row 1's Account and Contact; rows 2 and 3 both
    assert writes(sb.counters.snapshot()) == {
        "PATCH /services/data/{version}/composite/sobjects/{sobject}/{field}": 2,
        "DELETE /services/data/{version}/composite/sobjects": 2,
    }
    [account] = soql(sb, "SELECT Id, Phone FROM Account WHERE Zenskar_Id__c = '1'")
    assert (account["Id"], account["Phone"]) == (before[("1", "Account")], "+15550000000")
    assert sorted(account_ids(sb)) == sorted(accounts - {"2", "3"})
    remaining = {r["Zenskar_Id__c"] for r in soql(sb, "SELECT Zenskar_Id__c FROM Contact")}
    assert remaining == contacts - {"2", "3"}
    statuses = {(m["internal_id"], m["object_type"]): m["status"] for m in store.rows("customers", "salesforce")}
    assert {statuses[(i, t)] for i in ("2", "3") for t in ("Account", "Contact")} == {"deleted"}
    assert "failed" not in statuses.values()  # only row 7's local verdicts (no name) are not synced
    engine.dispose()
