"""Change polling (updated/deleted), persistence across restarts, and the CLI as a separate process."""

from __future__ import annotations

import datetime
import os
import signal
import subprocess
import sys

import pytest
import requests
from simple_salesforce.exceptions import SalesforceMalformedRequest

from zensync_pipelines.sandbox.salesforce import SalesforceSandbox

from .conftest import client, wait_until


def at(clock, minutes: float = 0.0) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(clock.now + minutes * 60, datetime.timezone.utc)


def test_updated_and_deleted_windows(clock):
    with SalesforceSandbox(clock=clock) as sb:
        sf = client(sb)
        start = at(clock)
        clock.advance(120)
        first = sf.Account.create({"Name": "A"})["id"]
        second = sf.Account.create({"Name": "B"})["id"]
        clock.advance(600)
        sf.Account.delete(second)
        clock.advance(120)
        updated = sf.Account.updated(start, at(clock, 5))
        assert updated["ids"] == [first]  # the deleted one is reported by /deleted instead
        assert updated["latestDateCovered"] == datetime.datetime.fromtimestamp(
            clock.now, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:00.000+0000")
        deleted = sf.Account.deleted(start, at(clock, 5))
        assert [d["id"] for d in deleted["deletedRecords"]] == [second]
        assert set(deleted) == {"deletedRecords", "earliestDateAvailable", "latestDateCovered"}
        assert sf.Account.updated(at(clock, -1), at(clock, 5))["ids"] == []
        with pytest.raises(SalesforceMalformedRequest) as too_old:
            sf.Account.updated(at(clock, -31 * 24 * 60), at(clock))
        assert too_old.value.content[0]["errorCode"] == "INVALID_REPLICATION_DATE"
        with pytest.raises(SalesforceMalformedRequest):
            sf.Account.deleted(at(clock, -16 * 24 * 60), at(clock))
        with pytest.raises(SalesforceMalformedRequest):
            sf.Account.updated(at(clock), at(clock, -5))


def test_state_survives_a_restart(tmp_path):
    data = str(tmp_path / "org.json")
    with SalesforceSandbox(data_file=data) as sb:
        sf = client(sb)
        kept = sf.Account.create({"Name": "Acme", "Zenskar_Id__c": "42"})["id"]
        gone = sf.Account.create({"Name": "Gone"})["id"]
        sf.Account.delete(gone)
    with SalesforceSandbox(data_file=data) as sb:
        sf = client(sb)
        assert sf.Account.get_by_custom_id("Zenskar_Id__c", "42")["Id"] == kept
        deleted = sf.query_all("SELECT Id FROM Account WHERE IsDeleted = true", include_deleted=True)
        assert [r["Id"] for r in deleted["records"]] == [gone]
        fresh = sf.Account.create({"Name": "New"})["id"]
        assert fresh not in (kept, gone)  # the id sequence is persisted too
        with pytest.raises(SalesforceMalformedRequest):
            sf.Account.create({"Name": "Dup", "Zenskar_Id__c": "42"})  # and the unique index is rebuilt


def test_writes_reach_the_file_before_stop(tmp_path):
    data = tmp_path / "org.json"
    with SalesforceSandbox(data_file=str(data)) as sb:
        client(sb).Account.create({"Name": "Acme"})
        wait_until(lambda: data.exists() and "Acme" in data.read_text())


def test_cli_serves_until_interrupted(tmp_path, spawn):
    ca_file = tmp_path / "ca.pem"
    data = tmp_path / "org.json"
    process = spawn(
        [sys.executable, "-m", "zensync_pipelines.sandbox.salesforce", "--ca-file", str(ca_file), "--data", str(data),
         "--daily-api-limit", "50"],
        stdout=subprocess.PIPE, text=True, cwd=os.getcwd())
    try:
        url = process.stdout.readline().split()[-1]
        assert url.startswith("https://127.0.0.1:")
        assert str(ca_file) in process.stdout.readline()
        session = requests.Session()
        session.verify, session.trust_env = str(ca_file), False
        token = session.post(url + "/services/oauth2/token", data={"grant_type": "client_credentials"}).json()
        reply = session.post(url + "/services/data/v60.0/sobjects/Account", json={"Name": "Via CLI"},
                             headers={"Authorization": "Bearer " + token["access_token"]})
        assert reply.status_code == 201 and reply.headers["Sforce-Limit-Info"] == "api-usage=1/50"
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    assert "Via CLI" in data.read_text()
