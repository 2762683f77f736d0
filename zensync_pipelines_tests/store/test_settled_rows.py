"""Settled rows (engine/settled.py): an unchanged row stays in the database, on SQLite and PostgreSQL alike, and
every way a row's plan can change without a settled digest changing brings the row back."""

import dataclasses
import datetime as dt

import pytest
from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, delete, insert, update

from zensync_pipelines.engine.settled import settled_for, spec_digest
from zensync_pipelines.engine.spec import CatalogSpec, ExternalObject, Field
from zensync_pipelines.engine.sync import Selection, SyncRun
from zensync_pipelines.engine.types import FAILED, SYNCED
from zensync_pipelines.store.catalog import CatalogTables
from zensync_pipelines.store.inbound_apply import InboundTables
from zensync_pipelines.store.mappings import MappingStore

from zensync_pipelines.store.tables import row_digests
from zensync_pipelines_tests.memory_system import MemorySystem

pytestmark = pytest.mark.usefixtures("batches")  # settling works the same with in-memory and spooled batches

SPEC = CatalogSpec(
    name="people", table="people", primary_key="id", cursor_column="updated_at", created_at_column="created_at",
    systems={"memory": [
        ExternalObject("account", [Field("name", "name", required=True, max_length=20)]),
        ExternalObject("contact", [Field("email", "email", type="email")], after="account"),
    ]},
)


def people(engine, count):
    table = Table("people", MetaData(), Column("id", Integer, primary_key=True), Column("name", String(50)),
                  Column("email", String(100)), Column("updated_at", DateTime), Column("created_at", DateTime))
    table.create(engine)
    with engine.begin() as connection:
        connection.execute(table.insert(), [{"id": i, "name": f"Person {i}", "email": f"p{i}@example.com"}
                                            for i in range(1, count + 1)])
    return table


def sync(engine, system, run_id, spec=SPEC, settled=True):
    selection = Selection(settled=settled_for(spec, "memory") if settled else None)
    return SyncRun(spec, "memory", CatalogTables(engine), MappingStore(engine), system, run_id).run(selection)


def handed_out(engine, spec=SPEC):
    """How many rows the catalog source hands the engine (a planned but unchanged row writes nothing, so the
    system's calls cannot tell)."""
    selection = Selection(settled=settled_for(spec, "memory"))
    return sum(len(rows) for rows in CatalogTables(engine).iter_chunks(spec, selection, 7))


def test_an_unchanged_row_is_never_read_again(engine):
    people(engine, 20)
    system = MemorySystem(batch_size=8)
    first = sync(engine, system, "r1")
    assert first.created == 40 and handed_out(engine) == 0
    again = sync(engine, system, "r2")
    assert (again.created, again.updated, again.skipped, again.api_calls) == (0, 0, 40, 0)


def test_a_changed_row_is_read_and_written_and_settles_again(engine):
    table = people(engine, 10)
    system = MemorySystem()
    sync(engine, system, "r1")
    with engine.begin() as connection:
        connection.execute(update(table).where(table.c.id == 4).values(name="Renamed"))
    assert handed_out(engine) == 1
    report = sync(engine, system, "r2")
    assert (report.updated, report.skipped) == (1, 19)  # row 4's contact is unchanged too
    assert system.live("account")[system_id(engine, "4")]["name"] == "Renamed"
    assert handed_out(engine) == 0


def system_id(engine, internal_id):
    return MappingStore(engine).rows("people", "memory", internal_id=internal_id, object_type="account")[0][
        "external_id"]


def test_failed_invalid_and_waiting_rows(engine):
    """A failure is not settled: the row is read again. An invalid object is settled (the same row is refused the
    same way), but a row with an object waiting for its parent is not."""
    table = people(engine, 6)
    with engine.begin() as connection:
        connection.execute(update(table).where(table.c.id == 2).values(name=None))  # invalid: required
    system = MemorySystem()
    system.reject["3"] = ("UNABLE_TO_LOCK_ROW", "locked", None)  # account fails, its contact waits
    sync(engine, system, "r1")
    # Row 3 (failed, and its contact waits) and row 2 (its account invalid, its contact waits for it).
    assert handed_out(engine) == 2
    del system.reject["3"]
    report = sync(engine, system, "r2")
    assert report.created == 2 and handed_out(engine) == 1  # row 2 waits until it changes
    with engine.begin() as connection:
        connection.execute(update(table).where(table.c.id == 2).values(name="Fixed"))
    assert sync(engine, system, "r3").created == 2 and handed_out(engine) == 0
    statuses = {(r["internal_id"], r["object_type"]): r["status"]
                for r in MappingStore(engine).rows("people", "memory")}
    assert statuses[("3", "account")] == statuses[("3", "contact")] == SYNCED


def test_a_row_changed_back_while_its_write_failed_is_planned_again(engine):
    """A -> B (the write fails) -> A: the digest of A was forgotten when B was read, so the row is compared
    again rather than trusted to be as A was settled."""
    table = people(engine, 3)
    system = MemorySystem()
    sync(engine, system, "r1")
    with engine.begin() as connection:
        connection.execute(update(table).where(table.c.id == 1).values(name="B"))
    system.reject["1"] = ("SERVER_ERROR", "boom", None)
    assert sync(engine, system, "r2").failed == 1
    with engine.begin() as connection:
        connection.execute(update(table).where(table.c.id == 1).values(name="Person 1"))
    assert handed_out(engine) == 1
    assert MappingStore(engine).rows("people", "memory", internal_id="1", object_type="account")[0][
        "status"] == FAILED


def test_a_changed_spec_reads_every_row_again(engine):
    people(engine, 5)
    system = MemorySystem()
    sync(engine, system, "r1")
    wider = dataclasses.replace(SPEC, systems={"memory": [
        ExternalObject("account", [Field("name", "name", required=True, max_length=30)]),
        ExternalObject("contact", [Field("email", "email", type="email")], after="account")]})
    assert spec_digest(wider, "memory") != spec_digest(SPEC, "memory")
    assert handed_out(engine, wider) == 5
    report = sync(engine, system, "r2", spec=wider)
    assert (report.skipped, report.api_calls) == (10, 0)  # planned and compared: the payloads are the same
    assert handed_out(engine, wider) == 0


def test_a_mapping_changed_by_inbound_or_drift_brings_the_row_back(engine):
    people(engine, 4)
    system = MemorySystem()
    sync(engine, system, "r1")
    tables = InboundTables(engine)
    tables.forget_fingerprint("people", "memory", "account", "2")  # drift found by a read-back
    with tables.transaction() as writer:
        # Deleted there, so the row must be created again.
        writer.set_mapping("people", "memory", "contact", "3", status="deleted", fingerprint=None)
    assert handed_out(engine) == 2
    with engine.connect() as connection:
        assert len(connection.execute(row_digests.select()).all()) == 2  # rows 1 and 4 stay settled
    report = sync(engine, system, "r2")
    assert report.updated == 1 and report.created == 1 and handed_out(engine) == 0


def test_a_run_without_the_filter_still_reads_every_row(engine):
    people(engine, 5)
    system = MemorySystem()
    sync(engine, system, "r1")
    report = sync(engine, system, "r2", settled=False)  # e.g. a reconcile
    assert report.skipped == 10  # every (row, object) planned and compared


def test_a_hard_deleted_row_inserted_again_is_created_again(engine):
    """The reconcile's delete of a row gone from the catalog forgets its digest: the same id and columns inserted
    later are a new row to create, not a settled one to skip."""
    table = people(engine, 3)
    system = MemorySystem()
    sync(engine, system, "r1")
    with engine.begin() as connection:
        connection.execute(delete(table).where(table.c.id == 2))
    run = SyncRun(SPEC, "memory", CatalogTables(engine), MappingStore(engine), system, "r2")
    assert run.delete_missing(["2"]).deleted == 2
    with engine.begin() as connection:
        connection.execute(insert(table).values(id=2, name="Person 2", email="p2@example.com"))
    assert handed_out(engine) == 1
    assert sync(engine, system, "r3").created == 2


def test_settled_rows_count_in_the_month_they_were_created(engine):
    """Counted in the database, grouped by created-at month: each month's skipped objects are its settled rows'
    objects, rows without a created-at count where the grouping puts them, and a changed row in its own month."""
    table = people(engine, 7)
    stamps = {1: dt.datetime(2026, 1, 1, 0, 0), 2: dt.datetime(2026, 1, 31, 23, 59, 59), 3: dt.datetime(2026, 2, 1),
              4: dt.datetime(2026, 2, 14, 12, 30), 5: dt.datetime(2026, 2, 28, 23, 0), 6: None,
              7: dt.datetime(2025, 12, 31, 23, 59)}
    with engine.begin() as connection:
        for key, stamp in stamps.items():
            connection.execute(update(table).where(table.c.id == key).values(created_at=stamp))
    sync(engine, MemorySystem(), "r1")
    with engine.begin() as connection:
        connection.execute(update(table).where(table.c.id == 4).values(name="Renamed"))

    def month(row):
        created = row.get("created_at")
        if isinstance(created, str):
            created = dt.datetime.fromisoformat(created)
        return f"{created.year:04d}-{created.month:02d}" if created else "none"

    run = SyncRun(SPEC, "memory", CatalogTables(engine), MappingStore(engine), MemorySystem(), "r2", group_of=month)
    report = run.run(Selection(settled=settled_for(SPEC, "memory")))
    assert report.skipped == 13  # 6 settled rows x 2 objects + row 4's unchanged contact (February)
    assert {name: group.skipped for name, group in run.groups.items()} == {
        "2025-12": 2, "2026-01": 4, "2026-02": 5, "none": 2}
    assert run.groups["2026-02"].updated == 1
