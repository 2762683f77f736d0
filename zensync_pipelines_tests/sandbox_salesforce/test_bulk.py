"""Bulk API 2.0 ingest through sf.bulk2: results CSVs, lookups by parent external id, job states and timing."""

from __future__ import annotations

import csv
import io
import time

import pytest
from simple_salesforce.exceptions import SalesforceOperationError

from zensync_pipelines.sandbox.salesforce import SalesforceSandbox

from .conftest import client


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def poll(session, url: str, seconds: float = 30.0) -> dict:
    """The job's info once it is no longer in progress, as a client polls it."""
    deadline = time.monotonic() + seconds
    while True:
        info = session.get(url).json()
        if info["state"] not in ("UploadComplete", "InProgress") or time.monotonic() > deadline:
            return info
        time.sleep(0.01)


def open_job(sb: SalesforceSandbox, csv_text: str):
    session = sb.requests_session()
    session.headers["Authorization"] = "Bearer " + sb.new_session()
    base = sb.instance_url + "/services/data/v59.0/jobs/ingest"
    job = session.post(base, json={"object": "Account", "operation": "upsert", "contentType": "CSV",
                                   "externalIdFieldName": "Zenskar_Id__c"}).json()
    assert session.put(f"{base}/{job['id']}/batches", data=csv_text, headers={"Content-Type": "text/csv"}) \
        .status_code == 201
    return session, f"{base}/{job['id']}"


def test_close_answers_at_once_and_the_rows_are_processed_in_the_background(sb):
    csv_text = "Name,Zenskar_Id__c\n" + "".join(f"A{i},{i}\n" for i in range(300)) + ",bad\n"
    session, url = open_job(sb, csv_text)
    with sb.store.lock:  # no row can be written while the test holds the org's records
        closed = session.patch(url, json={"state": "UploadComplete"}, timeout=5)
        assert (closed.status_code, closed.json()["state"]) == (200, "UploadComplete")
        info = session.get(url, timeout=5).json()
        assert (info["state"], info["numberRecordsProcessed"]) == ("InProgress", 0)
        assert session.get(url + "/successfulResults", timeout=5).status_code == 400
        time.sleep(0.2)  # processing is under way (and blocked on the org's records) all this time
    done = poll(session, url)
    assert (done["state"], done["numberRecordsProcessed"], done["numberRecordsFailed"]) == ("JobComplete", 301, 1)
    # totalProcessingTime: the milliseconds spent processing, fixed once the job is done.
    assert done["totalProcessingTime"] >= 200 and session.get(url).json()["totalProcessingTime"] == \
        done["totalProcessingTime"]
    assert len(rows(session.get(url + "/successfulResults").text)) == 300
    assert len(sb.store.rows("Account")) == 300


def test_an_abort_stops_the_processing_and_the_rest_is_reported_unprocessed(sb):
    session, url = open_job(sb, "Name,Zenskar_Id__c\n" + "".join(f"A{i},{i}\n" for i in range(200)))
    with sb.store.lock:
        assert session.patch(url, json={"state": "UploadComplete"}, timeout=5).status_code == 200
        assert session.patch(url, json={"state": "Aborted"}, timeout=5).json()["state"] == "Aborted"
    unprocessed = rows(session.get(url + "/unprocessedrecords").text)
    written = len(sb.store.rows("Account"))
    assert written <= 1  # at most the row the thread had begun when the abort came
    assert len(unprocessed) == 200 - written and unprocessed[-1] == {"Name": "A199", "Zenskar_Id__c": "199"}
    assert session.get(url).json()["state"] == "Aborted"


def test_upsert_with_successes_failures_and_parent_lookups(sf):
    sf.Account.create({"Name": "Parent", "Zenskar_Id__c": "p1"})
    sf.Contact.create({"LastName": "Existing", "Zenskar_Id__c": "c0"})
    records = [
        {"LastName": "Renamed", "Zenskar_Id__c": "c0", "Account.Zenskar_Id__c": "p1"},
        {"LastName": "New", "Zenskar_Id__c": "c1", "Account.Zenskar_Id__c": "p1"},
        {"LastName": "", "Zenskar_Id__c": "c2", "Account.Zenskar_Id__c": "p1"},
        {"LastName": "Lost", "Zenskar_Id__c": "c3", "Account.Zenskar_Id__c": "missing"},
    ]
    [summary] = sf.bulk2.Contact.upsert(records=records, external_id_field="Zenskar_Id__c", wait=0)
    assert summary["numberRecordsProcessed"] == 4 and summary["numberRecordsFailed"] == 2
    ok = rows(sf.bulk2.Contact.get_successful_records(summary["job_id"]))
    assert [(r["Zenskar_Id__c"], r["sf__Created"]) for r in ok] == [("c0", "false"), ("c1", "true")]
    failed = rows(sf.bulk2.Contact.get_failed_records(summary["job_id"]))
    assert failed[0]["sf__Error"] == "REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:LastName --"
    assert failed[1]["sf__Error"].startswith("INVALID_FIELD:Foreign key external ID: missing not found")
    linked = sf.query("SELECT LastName, Account.Zenskar_Id__c FROM Contact WHERE Account.Zenskar_Id__c = 'p1'")
    assert sorted(r["LastName"] for r in linked["records"]) == ["New", "Renamed"]
    assert rows(sf.bulk2.Contact.get_unprocessed_records(summary["job_id"])) == []


def test_insert_from_a_csv_file_then_delete(sf, tmp_path):
    path = tmp_path / "accounts.csv"
    path.write_text("Name,Zenskar_Id__c\nA,1\nB,2\n")
    [summary] = sf.bulk2.Account.insert(csv_file=str(path), wait=0)
    ids = [r["sf__Id"] for r in rows(sf.bulk2.Account.get_successful_records(summary["job_id"]))]
    assert len(ids) == 2 and all(i.startswith("001") for i in ids)
    [deleted] = sf.bulk2.Account.delete(records=[{"Id": i} for i in ids], wait=0)
    assert deleted["numberRecordsFailed"] == 0
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0


def test_an_unknown_column_fails_the_job(sf):
    with pytest.raises(SalesforceOperationError, match="Field name not found : Nope"):
        sf.bulk2.Account.insert(records=[{"Name": "A", "Nope": "x"}], wait=0)


def test_jobs_progress_on_the_sandbox_clock(clock):
    with SalesforceSandbox(bulk_processing_seconds=30, clock=clock) as sb:
        session = sb.requests_session()
        base = sb.instance_url + "/services/data/v59.0/jobs/ingest"
        session.headers["Authorization"] = "Bearer " + sb.new_session()
        job = session.post(base, json={"object": "Account", "operation": "insert", "contentType": "CSV"}).json()
        assert job["state"] == "Open" and job["id"].startswith("750")
        upload = session.put(f"{base}/{job['id']}/batches", data="Name\nA\nB\n",
                             headers={"Content-Type": "text/csv"})
        assert upload.status_code == 201
        closed = session.patch(f"{base}/{job['id']}", json={"state": "UploadComplete"})
        assert closed.status_code == 200 and closed.json()["state"] == "UploadComplete"
        assert session.get(f"{base}/{job['id']}").json()["state"] == "InProgress"
        assert session.get(f"{base}/{job['id']}/successfulResults").status_code == 400
        time.sleep(0.2)  # the processing thread is done with two rows long before this; the clock still holds it
        assert session.get(f"{base}/{job['id']}").json()["state"] == "InProgress"
        clock.advance(31)
        done = poll(session, f"{base}/{job['id']}")
        assert (done["state"], done["numberRecordsProcessed"]) == ("JobComplete", 2)
        assert [j["id"] for j in session.get(base).json()["records"]] == [job["id"]]
        assert session.delete(f"{base}/{job['id']}").status_code == 204
        assert session.get(f"{base}/{job['id']}").status_code == 404


def test_an_aborted_job_reports_every_row_unprocessed(sb):
    sf = client(sb)
    client_ = sf.bulk2.Account._client
    job = client_.create_job("insert")
    client_.upload_job_data(job["id"], "Name\nA\nB\n")
    assert client_.abort_job(job["id"], False)["state"] == "Aborted"
    assert rows(sf.bulk2.Account.get_unprocessed_records(job["id"])) == [{"Name": "A"}, {"Name": "B"}]
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0
