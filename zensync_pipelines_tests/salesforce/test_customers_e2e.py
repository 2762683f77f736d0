"""customers -> Salesforce Accounts + Contacts through Dagster, the real simple-salesforce over HTTPS to the sandbox."""

import csv
import dataclasses
import io
import random
import tempfile

from zensync_pipelines.engine.types import Operation
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines.systems.salesforce import bulk

from .conftest import (account_ids, catalog_rows, contacts_by_row, materialize_salesforce, metadata_of, resource_for,
                       seeded, valid_ids, writes)

COLLECTIONS_UPSERT = "PATCH /services/data/{version}/composite/sobjects/{sobject}/{field}"
BULK_CREATE = "POST /services/data/{version}/jobs/ingest"


def test_customers_sync_to_salesforce_end_to_end(database_url, sb):
    engine = seeded(database_url, 1000)
    rows = catalog_rows(engine)
    accounts, contacts = valid_ids(rows)
    assert (len(accounts), len(contacts)) == (960, 940)  # the seed breaks names and emails on purpose

    first = metadata_of(materialize_salesforce(database_url, resource_for(sb)))
    counters = sb.counters.snapshot()
    # 960 Accounts + 940 Contacts in 200-record Collections calls: 5 + 5, nothing else writes.
    assert writes(counters) == {COLLECTIONS_UPSERT: 10}
    assert first["api_calls"] == sb.counters.total()  # every HTTP request counted, login and budget probe too
    assert (first["created"], first["failed"], first["waiting"]) == (1900, 60, 40)

    remote_accounts = account_ids(sb)
    assert sorted(remote_accounts) == sorted(accounts)  # exactly one per valid row
    linked = contacts_by_row(sb)
    assert set(linked) == contacts and all(parents == [i] for i, parents in linked.items())

    store = MappingStore(engine)
    mapped = {(m["internal_id"], m["object_type"]): m for m in store.rows("customers", "salesforce")}
    for internal_id in accounts:
        assert mapped[(internal_id, "Account")]["external_id"].startswith("001")
    for internal_id in contacts:
        assert mapped[(internal_id, "Contact")]["external_id"].startswith("003")
    for internal_id in set(rows) - accounts:
        account = mapped[(internal_id, "Account")]
        assert (account["status"], account["last_error_field"]) == ("invalid", "name")
        assert "required" in account["last_error"] or "longer than the maximum 255" in account["last_error"]
        assert mapped[(internal_id, "Contact")]["status"] == "waiting"
    bad_email = mapped[("41", "Contact")]
    assert (bad_email["status"], bad_email["last_error_field"]) == ("invalid", "email")
    assert "not an email address" in bad_email["last_error"]

    sb.counters.reset()
    again = metadata_of(materialize_salesforce(database_url, resource_for(sb)))
    assert sb.counters.total() == 0 and again["api_calls"] == 0
    # Rows whose Account synced and whose Contact was refused as invalid are settled: both objects skipped. Rows
    # with an invalid Account are read again (their Contact waits, which never settles): refused again.
    refused_contacts = first["failed"] - first["waiting"]
    assert (again["created"], again["updated"], again["skipped"]) == (0, 0, 1900 + refused_contacts)
    assert (again["failed"], again["waiting"]) == (first["waiting"], first["waiting"])
    engine.dispose()


def test_six_thousand_rows_take_the_bulk_path_in_one_job_per_object(sqlite_url, sb):
    # ~11,400 operations: more than the engine's old 10,000-operation batch, which made two jobs per object.
    engine = seeded(sqlite_url, 6000)
    accounts, contacts = valid_ids(catalog_rows(engine))

    result = metadata_of(materialize_salesforce(sqlite_url, resource_for(sb)))
    counters = sb.counters.snapshot()
    assert counters[BULK_CREATE] == 2  # one job per object type
    assert COLLECTIONS_UPSERT not in counters
    assert result["created"] == len(accounts) + len(contacts)
    assert result["api_calls"] == sb.counters.total() <= 20
    # Per job: create, upload, close, successful results, and the polls while the sandbox processes it in the
    # background (at least the one that saw it complete); no failure, no failed-results download. Plus the
    # /limits probe and the login.
    job_calls = {route: n for route, n in counters.items() if "/jobs/ingest" in route}
    polls = job_calls.pop("GET /services/data/{version}/jobs/ingest/{job_id}")
    assert sum(job_calls.values()) == 2 * 4 and polls >= 2, job_calls

    assert sorted(account_ids(sb)) == sorted(accounts)
    linked = contacts_by_row(sb)
    assert set(linked) == contacts and all(parents == [i] for i, parents in linked.items())
    mapped = MappingStore(engine).rows("customers", "salesforce", status="synced")
    assert len(mapped) == len(accounts) + len(contacts) and all(m["external_id"] for m in mapped)
    engine.dispose()


def test_a_csv_past_the_upload_limit_is_split_into_jobs_with_a_header_each(monkeypatch):
    monkeypatch.setattr(bulk, "MAX_UPLOAD_BYTES", 200)
    monkeypatch.setattr(bulk, "BLOCK", 6)  # the spool's blocks end inside uploads, and uploads inside blocks
    ops = [Operation("customers", "salesforce", "Account", str(i), "create", {"Name": f"Account, {i:03d}"}, "f",
                     None, f"k{i}") for i in range(40)]
    ops[7] = dataclasses.replace(ops[7], payload={"Name": None, "Phone": "555"})  # a column only one row has
    results = bulk._Results()
    spool = bulk._Spool(iter(ops), "Zenskar_Id__c", results)
    uploads = spool.uploads()
    texts = []
    for body, _ in uploads:
        body.seek(0)
        texts.append(body.read().decode())
    assert len(uploads) > 1 and all(len(t.encode()) <= 200 for t in texts)
    parsed = [list(csv.DictReader(io.StringIO(text))) for text in texts]
    assert [records for _, records in uploads] == [len(rows) for rows in parsed]  # counts match the files
    parsed = [row for rows in parsed for row in rows]
    assert parsed[7] == {"Name": "#N/A", "Phone": "555", "Zenskar_Id__c": "7"}  # None clears: #N/A
    # A column a record does not carry (a partial update's unsent field) stays empty: Bulk 2.0 leaves it alone.
    assert parsed[:7] + parsed[8:] == [{"Name": f"Account, {i:03d}", "Phone": "", "Zenskar_Id__c": str(i)}
                                       for i in range(40) if i != 7]
    assert [Operation(*sent) for sent in spool.ops()] == ops  # read back in order, to be matched to results
    assert [row[0] for row in results.db.execute("SELECT key FROM sent ORDER BY position")] == [str(i)
                                                                                                for i in range(40)]
    spool.close()
    results.close()


def test_bulk_results_are_matched_by_external_id_whatever_their_order():
    """Salesforce does not return a job's results in the order of its CSV: each operation gets its own."""
    ops = [Operation("customers", "salesforce", "Account", str(i), "create", {"Name": str(i)}, "f", None, f"k{i}")
           for i in range(3000)]
    lines = [f'"{i:018d}","true","{i}","{i}"' for i in range(3000) if i % 7]
    failed = ['"","REQUIRED_FIELD_MISSING:Required fields are missing: [Name]:Name --","' + str(i) + '","x"'
              for i in range(3000) if i % 7 == 0 and i % 2]
    random.Random(4).shuffle(lines)
    results = bulk._Results()
    results.send(["unrelated"] * 5)  # an earlier upload's records: positions go on from there
    results.send(op.internal_id for op in ops)
    for text in ('"sf__Id","sf__Created","Zenskar_Id__c","Name"\n' + "\n".join(lines) + "\n",
                 '"sf__Id","sf__Error","Zenskar_Id__c","Name"\n' + "\n".join(failed) + "\n"):
        file = tempfile.TemporaryFile()
        file.write(text.encode())
        results.load(file, "zenskar_id__c")
    answers = list(results.answers(5, len(ops)))
    results.close()
    assert len(answers) == len(ops)
    for i, answer in enumerate(answers):
        if i % 7:
            assert answer.ok and answer.record_id == f"{i:018d}", i
        elif i % 2:
            assert (answer.ok, answer.code, answer.field) == (False, "REQUIRED_FIELD_MISSING", "Name"), i
        else:  # in neither file: not processed, retried later
            assert (answer.ok, answer.code, answer.retryable) == (False, "unprocessed", True), i
