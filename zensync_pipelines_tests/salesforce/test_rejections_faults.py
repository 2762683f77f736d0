"""Salesforce's per-record rejections become row failures; transient faults are retried until the run is synced."""

import dataclasses

import pytest
from sqlalchemy import update

from zensync_pipelines.demo.tables import customers
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines.systems.salesforce.connection import BREAKER_THRESHOLD

from .conftest import (SPEC, account_ids, catalog_rows, contacts_by_row, resource_for, run_engine, seeded, valid_ids,
                       writes)
from .test_customers_e2e import BULK_CREATE, COLLECTIONS_UPSERT

LONG_EMAIL = "a" * 80 + "@example.com"  # 92 characters: Salesforce's Contact.Email holds 80


def lenient_spec():
    """The customers spec with a longer Email than Salesforce allows, so only Salesforce can reject it."""
    account, contact = SPEC.systems["salesforce"]
    fields = [dataclasses.replace(f, max_length=200) if f.target == "Email" else f for f in contact.fields]
    systems = dict(SPEC.systems, salesforce=[account, dataclasses.replace(contact, fields=fields)])
    return dataclasses.replace(SPEC, systems=systems)


@pytest.mark.parametrize("bulk_threshold", [2000, 10], ids=["collections", "bulk"])
def test_a_record_salesforce_rejects_fails_alone_with_salesforces_code(sqlite_url, sb, bulk_threshold):
    engine = seeded(sqlite_url, 20)
    with engine.begin() as connection:
        connection.execute(update(customers).where(customers.c.id == 5).values(email=LONG_EMAIL))
    adapter = resource_for(sb, bulk_threshold=bulk_threshold).adapter()

    report = run_engine(engine, adapter, lenient_spec())

    mapped = {(m["internal_id"], m["object_type"]): m for m in MappingStore(engine).rows("customers", "salesforce")}
    rejected = mapped[("5", "Contact")]
    assert (rejected["status"], rejected["last_error_code"], rejected["last_error_field"]) == \
        ("failed", "STRING_TOO_LONG", "Email")
    assert "Email" in rejected["last_error"]
    assert mapped[("5", "Account")]["status"] == "synced"  # its Account is fine
    accounts, contacts = valid_ids(catalog_rows(engine))
    assert report.created == len(accounts) + len(contacts) - 1
    assert "5" not in contacts_by_row(sb)
    # A validation error is final: no call was repeated for it.
    counters = sb.counters.snapshot()
    assert counters.get(COLLECTIONS_UPSERT, 0) + counters.get(BULK_CREATE, 0) == 2
    engine.dispose()


ALL_FAULTS = ["lock_row", "server_error", "drop"]


@pytest.mark.parametrize("fault_kinds, bulk_threshold", [
    (["lock_row"], 2000), (["server_error"], 2000), (["drop"], 2000), (ALL_FAULTS, 2000), (ALL_FAULTS, 50),
], ids=["lock_row", "server_error", "drop", "all-collections", "all-bulk"])
def test_locked_rows_server_errors_and_dropped_connections_are_retried(sqlite_url, sb, fault_kinds, bulk_threshold):
    engine = seeded(sqlite_url, 300)
    accounts, contacts = valid_ids(catalog_rows(engine))
    sb.configure(fault_rate=0.15, fault_kinds=fault_kinds, seed=7)
    adapter = resource_for(sb, bulk_threshold=bulk_threshold, max_retries=6).adapter()

    report = run_engine(engine, adapter)

    assert (report.created, report.stopped_reason) == (len(accounts) + len(contacts), None)
    sb.configure(fault_rate=0.0)
    assert sorted(account_ids(sb)) == sorted(accounts)  # one Account per row: retries never duplicated
    linked = contacts_by_row(sb)
    assert set(linked) == contacts and all(parents == [i] for i, parents in linked.items())
    statuses = MappingStore(engine).status_counts("customers", "salesforce")
    assert statuses["synced"] == len(accounts) + len(contacts) and "failed" not in statuses  # only local verdicts
    # Faults did happen: more write calls than a clean run needs (2 Collections calls per type, or per type one
    # Bulk job of create + upload + close).
    assert sum(writes(sb.counters.snapshot()).values()) > (4 if bulk_threshold == 2000 else 6)
    engine.dispose()


def test_a_rejected_record_is_a_permanent_failure_and_a_lost_request_a_transient_one(sqlite_url, sb):
    engine = seeded(sqlite_url, 20)
    with engine.begin() as connection:
        connection.execute(update(customers).where(customers.c.id == 5).values(email=LONG_EMAIL))
    adapter = resource_for(sb, max_retries=0).adapter()
    run_engine(engine, adapter, lenient_spec())  # logged in, and the budget known: the next run's first call writes
    [rejected] = MappingStore(engine).rows("customers", "salesforce", internal_id="5", object_type="Contact")
    assert (rejected["failure_kind"], rejected["next_retry_at"]) == ("permanent", None)
    sb.configure(fault_rate=1.0, fault_kinds=["server_error"])
    with engine.begin() as connection:  # two rows change; the one request that carries them fails with a 500
        connection.execute(update(customers).where(customers.c.id.in_([1, 2])).values(phone="+15550001111"))
    report = run_engine(engine, adapter, lenient_spec())
    assert report.outage is None and report.failed >= 2  # one failed request is no outage yet
    rows = {(m["internal_id"], m["object_type"]): m for m in MappingStore(engine).rows("customers", "salesforce")}
    lost = rows[("1", "Account")]
    assert (lost["status"], lost["failure_kind"]) == ("failed", "transient") and lost["next_retry_at"] is not None
    engine.dispose()


class StopSandboxAfterFirstBatch:
    """Delegates to an adapter; the Salesforce sandbox goes away after the first batch (a mid-run outage)."""

    def __init__(self, adapter, sb):
        self.adapter, self.sb, self.applied = adapter, sb, 0
        self.name, self.batch_size = adapter.name, adapter.batch_size

    @property
    def api_calls(self):
        return self.adapter.api_calls

    def apply(self, operations):
        if self.applied == 1:
            self.sb.stop()
        self.applied += 1
        return self.adapter.apply(operations)


def test_an_outage_mid_run_stops_early_keeps_what_finished_and_fails_the_run(sqlite_url, sb):
    engine = seeded(sqlite_url, 300)
    adapter = StopSandboxAfterFirstBatch(resource_for(sb, batch_size=100).adapter(), sb)
    report = run_engine(engine, adapter)
    assert report.outage and "3 consecutive calls failed" in report.outage
    # Each later batch fails its Account request (its Contacts wait for it): the third such request opens the
    # breaker, and no batch after it is tried (300 rows are 6 batches).
    assert adapter.applied == 1 + BREAKER_THRESHOLD
    statuses = MappingStore(engine).status_counts("customers", "salesforce")
    assert statuses["synced"] == report.created > 0  # the first batch is kept
    failed = MappingStore(engine).rows("customers", "salesforce", status="failed")
    assert {r["failure_kind"] for r in failed} == {"transient"}  # retried automatically, with backoff
    assert statuses["pending"] >= 100  # the batch the breaker stopped, and nothing marked failed for it
    assert report.api_calls < 30
    engine.dispose()


def test_an_unreachable_login_url_fails_the_run_at_once(sqlite_url, sb):
    from zensync_pipelines_tests.conftest import free_port

    engine = seeded(sqlite_url, 20)
    report = run_engine(engine, resource_for(sb, login_url=f"https://127.0.0.1:{free_port()}").adapter())
    assert report.outage.startswith("Salesforce login failed") and "ConnectionError" in report.outage
    assert report.created == 0 and not MappingStore(engine).status_counts("customers", "salesforce").get("failed")
    engine.dispose()
