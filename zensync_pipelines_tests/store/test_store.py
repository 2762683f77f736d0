"""zensync's tables and catalog reading, on SQLite and on PostgreSQL."""

import dataclasses
import datetime as dt

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text, update

from zensync_pipelines.catalogs import load_specs
from zensync_pipelines.demo.seed import seed_customers
from zensync_pipelines.demo.tables import customers
from zensync_pipelines.engine.spec import SpecError
from zensync_pipelines.engine.sync import Selection
from zensync_pipelines.engine.types import CREATE, FAILED, PENDING, SYNCED, Operation, Outcome
from zensync_pipelines.store import migrate
from zensync_pipelines.store.catalog import CatalogTables
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines.store.tables import metadata

SPEC = {spec.name: spec for spec in load_specs()}["customers"]


def op(internal_id, object_type="customer", action=CREATE, fingerprint="f1"):
    return Operation("customers", "stripe", object_type, internal_id, action, {}, fingerprint, None, "k")


def test_migrations_build_exactly_the_declared_tables(engine):
    assert migrate.current(engine) == migrate.HEAD == "0011"
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(
            connection, opts={"version_table": migrate.VERSION_TABLE}), metadata)
    assert diff == []
    migrate.upgrade(engine)  # idempotent
    assert {"zensync_external_mappings", "zensync_sync_events"} <= set(inspect(engine).get_table_names())


def test_the_write_sequence_is_recorded_with_the_intent_and_outlives_its_outcome(engine):
    store = MappingStore(engine)

    def seq_op(seq, fingerprint="f1"):
        return dataclasses.replace(op("1", fingerprint=fingerprint), seq=seq)

    def state():
        return store.load_states("customers", "stripe", ["1"])[("1", "customer")]

    store.record_intents("run1", [seq_op(1)])
    assert (state().status, state().write_seq) == (PENDING, 1)
    store.record_outcomes("run1", [Outcome.of(seq_op(1), SYNCED, external_id="cus_1")])
    assert (state().status, state().write_seq) == (SYNCED, 1)
    store.record_intents("run2", [seq_op(2, "f2")])
    store.record_outcomes("run2", [Outcome.of(seq_op(2, "f2"), FAILED, error_code="x", error_message="no")])
    assert (state().status, state().write_seq, state().fingerprint) == (FAILED, 2, "f1")
    store.record_outcomes("run3", [Outcome("customers", "stripe", "customer", "1", CREATE, "invalid")])
    assert state().write_seq == 2  # a local verdict is no write intent


def test_rows_from_before_the_write_sequence_start_at_zero(database_url):
    engine = make_engine(database_url)
    migrate.upgrade(engine, "0004")
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO zensync_external_mappings (catalog, internal_id, system, object_type, external_id, "
            "fingerprint, status, attempts, created_at, updated_at) VALUES ('customers', '1', 'stripe', 'customer', "
            "'cus_1', 'f1', 'synced', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
    migrate.upgrade(engine)
    assert MappingStore(engine).load_states("customers", "stripe", ["1"])[("1", "customer")].write_seq == 0
    engine.dispose()


def test_mapping_rows_follow_intents_and_outcomes(engine):
    store = MappingStore(engine)
    store.record_intents("run1", [op("1"), op("2")])
    assert store.load_states("customers", "stripe", ["1", "2"])[("1", "customer")].status == PENDING
    store.record_outcomes("run1", [
        Outcome.of(op("1"), SYNCED, external_id="cus_1"),
        Outcome.of(op("2"), FAILED, error_code="email_invalid", error_field="email", error_message="bad email"),
    ])
    states = store.load_states("customers", "stripe", ["1", "2", "3"])
    assert states[("1", "customer")].external_id == "cus_1" and states[("1", "customer")].fingerprint == "f1"
    assert states[("2", "customer")].status == FAILED and states[("2", "customer")].attempts == 1
    assert ("3", "customer") not in states
    store.record_intents("run2", [op("2", fingerprint="f2")])
    store.record_outcomes("run2", [Outcome.of(op("2"), FAILED, error_code="x", error_message="again")])
    row = store.rows("customers", "stripe", internal_id="2")[0]
    assert (row["attempts"], row["last_error"], row["last_run_id"]) == (2, "again", "run2")
    store.record_outcomes("run3", [Outcome.of(op("2", fingerprint="f3"), SYNCED, external_id="cus_2")])
    row = store.rows("customers", "stripe", internal_id="2")[0]
    assert (row["status"], row["attempts"], row["last_error"], row["fingerprint"]) == (SYNCED, 0, None, "f3")
    assert store.external_ids("customers", "stripe", "customer", ["1", "2", "9"]) == {"1": "cus_1", "2": "cus_2"}
    assert [e["outcome"] for e in store.events("customers", "stripe")] == [SYNCED, FAILED, FAILED, SYNCED]
    assert store.status_counts("customers", "stripe") == {SYNCED: 2}


def test_the_mapping_key_is_unique_per_row_system_and_object(engine):
    store = MappingStore(engine)
    store.record_intents("r", [op("1", "Account"), op("1", "Contact")])
    store.record_intents("r", [op("1", "Account")])
    assert len(store.rows("customers", "stripe")) == 2


def test_catalog_rows_come_in_keyset_chunks_with_selections(engine):
    assert seed_customers(engine, 120) == 120
    assert seed_customers(engine, 120) == 0  # deterministic and idempotent
    tables = CatalogTables(engine)
    chunks = list(tables.iter_chunks(SPEC, Selection(), 50))
    assert [len(c) for c in chunks] == [50, 50, 20]
    assert [r["id"] for c in chunks for r in c] == list(range(1, 121))
    late = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)
    with engine.begin() as connection:
        connection.execute(update(customers).where(customers.c.id.in_([5, 77])).values(updated_at=late))
    changed = [r["id"] for c in tables.iter_chunks(SPEC, Selection(changed_since=late), 50) for r in c]
    assert changed == [5, 77]
    picked = [r["id"] for c in tables.iter_chunks(SPEC, Selection(ids=["3", "9"]), 50) for r in c]
    assert picked == [3, 9]
    stats = tables.stats(SPEC)
    assert stats["rows"] == 120 and stats["live_rows"] == 120 and str(stats["latest_change"]).startswith("2030")


def test_the_seed_writes_the_same_rows_every_time(engine, tmp_path):
    from zensync_pipelines.demo.seed import customer_row
    import random

    first = [customer_row(random.Random(1), i) for i in range(1, 4)]
    assert first == [customer_row(random.Random(1), i) for i in range(1, 4)]
    invalid = [customer_row(random.Random(1), i) for i in (7, 23, 41)]
    assert invalid[0]["name"] is None and len(invalid[1]["name"]) == 300 and invalid[2]["email"] == "not-an-email"


def test_a_spec_whose_table_lacks_a_column_fails_clearly(engine):
    seed_customers(engine, 1)
    import dataclasses

    broken = dataclasses.replace(SPEC, cursor_column="modified_at")
    with pytest.raises(SpecError, match="table 'customers' has no column 'modified_at'"):
        CatalogTables(engine).table(broken)
    missing = dataclasses.replace(SPEC, table="no_such_table")
    with pytest.raises(SpecError, match="table 'no_such_table' does not exist"):
        CatalogTables(engine).table(missing)


def test_failures_carry_their_kind_and_retry_time(engine):
    store = MappingStore(engine)
    store.record_intents("run1", [op("1"), op("2"), op("3")])
    store.record_outcomes("run1", [
        Outcome.of(op("1"), FAILED, error_code="api_error", error_message="500", transient=True),
        Outcome.of(op("2"), FAILED, error_code="email_invalid", error_message="bad email"),
        Outcome.of(op("3"), SYNCED, external_id="cus_3"),
    ])
    rows = {r["internal_id"]: r for r in store.rows("customers", "stripe")}
    assert (rows["1"]["failure_kind"], rows["2"]["failure_kind"], rows["3"]["failure_kind"]) == \
        ("transient", "permanent", None)
    assert rows["2"]["next_retry_at"] is None and rows["3"]["next_retry_at"] is None
    first = store.next_retry("customers", "stripe")
    assert first is not None and first.tzinfo is not None
    now = dt.datetime.now(dt.timezone.utc)
    assert dt.timedelta(seconds=50) < first - now <= dt.timedelta(minutes=1)
    assert store.due_retries("customers", "stripe", now) == []
    assert store.due_retries("customers", "stripe", now + dt.timedelta(minutes=2)) == ["1"]
    store.record_intents("run2", [op("1")])  # a run that dies here leaves the row pending
    assert store.due_retries("customers", "stripe", now + dt.timedelta(minutes=2)) == []
    assert store.due_retries("customers", "stripe", now + dt.timedelta(minutes=16)) == ["1"]
    store.record_outcomes("run3", [Outcome.of(op("1"), FAILED, error_code="api_error", error_message="500",
                                              attempt=2, transient=True)])
    assert store.next_retry("customers", "stripe") - dt.datetime.now(dt.timezone.utc) > dt.timedelta(minutes=1.5)
    store.record_outcomes("run4", [Outcome.of(op("1"), SYNCED, external_id="cus_1")])
    assert store.next_retry("customers", "stripe") is None
    assert store.rows("customers", "stripe", internal_id="1")[0]["failure_kind"] is None


def test_the_fast_head_check_names_the_newest_migration(tmp_path):
    """migrate.HEAD lets a process skip Alembic when the database is current: it must be the scripts' head."""
    from alembic.script import ScriptDirectory

    from zensync_pipelines.store.db import make_engine

    engine = make_engine(f"sqlite:///{tmp_path / 'h.db'}")
    assert ScriptDirectory.from_config(migrate.alembic_config(engine)).get_current_head() == migrate.HEAD
    migrate.upgrade(engine)
    assert migrate.current(engine) == migrate.HEAD
