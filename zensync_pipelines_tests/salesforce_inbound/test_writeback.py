"""Adopting Accounts created in Salesforce: the catalog id written back in one call per 200 records, so the next
outbound upsert on Zenskar_Id__c finds the same record; per-record failures stay per record."""

from __future__ import annotations

from zensync_pipelines.sandbox.salesforce.auth import USER_ID


def test_tags_are_written_back_in_batches_and_the_next_upsert_finds_the_record(sb, adapter, sales):
    records = [{"attributes": {"type": "Account"}, "Name": f"Made in Salesforce {i}"} for i in range(250)]
    created = [r["id"] for start in (0, 200) for r in sales.restful(
        "composite/sobjects", method="POST", json={"allOrNone": True, "records": records[start:start + 200]})]
    sb.counters.reset()
    results = adapter.write_tags("Account", {record_id[:15]: f"sf-{i}" for i, record_id in enumerate(created)})
    assert all(r.ok for r in results.values()) and len(results) == 250
    assert sb.counters.snapshot().get("PATCH /services/data/{version}/composite/sobjects") == 2
    rows = {r["Id"]: r for r in sales.query_all("SELECT Id, Zenskar_Id__c, LastModifiedById FROM Account")["records"]}
    assert rows[created[7]]["Zenskar_Id__c"] == "sf-7" and rows[created[7]]["LastModifiedById"] == USER_ID
    # the next outbound run upserts on the tag: the same record, not a second one
    answer = sales.restful("sobjects/Account/Zenskar_Id__c/sf-7", method="PATCH", json={"Name": "Renamed"})
    assert (answer["id"], answer["created"]) == (created[7], False)
    assert len(rows) == 250
    again = adapter.write_tags("Account", {created[7]: "sf-7"})  # a retried write-back changes nothing
    assert again[created[7]].ok


def test_a_failed_record_does_not_hold_back_the_others(sb, adapter, sales):
    first = sales.Account.create({"Name": "First"})["id"]
    second = sales.Account.create({"Name": "Second"})["id"]
    gone = sales.Account.create({"Name": "Gone"})["id"]
    sales.Account.delete(gone)
    results = adapter.write_tags("Account", {first: "dup", second: "dup", gone: "g"})
    assert results[first].ok
    assert (results[second].ok, results[second].code) == (False, "DUPLICATE_VALUE")
    assert (results[gone].ok, results[gone].code) == (False, "ENTITY_IS_DELETED")
