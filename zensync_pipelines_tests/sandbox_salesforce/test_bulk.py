"""Bulk API 2.0 ingest through sf.bulk2: results CSVs, lookups by parent external id, job states and timing."""

from __future__ import annotations

import csv
import io

import pytest
from simple_salesforce.exceptions import SalesforceOperationError

from zensync_pipelines.sandbox.salesforce import SalesforceSandbox

from .conftest import client


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


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
        clock.advance(31)
        done = session.get(f"{base}/{job['id']}").json()
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
