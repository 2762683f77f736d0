"""Set-based bookkeeping writes: values survive COPY's text format and the SQLite staging exactly."""

import datetime as dt

from sqlalchemy import Text, cast, select

from zensync_pipelines.engine.types import CREATE, FAILED, INVALID, PENDING, SYNCED, Operation, Outcome
from zensync_pipelines.store import bulkwrite
from zensync_pipelines.store import mappings as mappings_module
from zensync_pipelines.store.mappings import KEY, MappingStore
from zensync_pipelines.store.tables import mappings, sync_events

AWKWARD = ["tab\there", "line\nbreak\r\n", "back\\slash \\N", "", "ünïcødé ✓", "quote \"'", "\\"]


def op(internal_id, fingerprint="f1"):
    return Operation("customers", "salesforce", "Account", internal_id, CREATE, {}, fingerprint, None, "k")


def test_awkward_text_and_nulls_round_trip_through_the_bulk_paths(engine):
    store = MappingStore(engine)
    ids = [f"id {i}\t{text}" for i, text in enumerate(AWKWARD)]
    store.record_intents("run", [op(i) for i in ids])
    outcomes = [Outcome.of(op(i), FAILED, error_code="E", error_field=None if n % 2 else "", error_message=text)
                for n, (i, text) in enumerate(zip(ids, AWKWARD))]
    store.record_outcomes("run", outcomes)
    rows = {r["internal_id"]: r for r in store.rows("customers", "salesforce")}
    assert set(rows) == set(ids)
    for n, (i, text) in enumerate(zip(ids, AWKWARD)):
        assert rows[i]["last_error"] == text and rows[i]["last_error_field"] == (None if n % 2 else "")
        assert rows[i]["attempts"] == 1 and rows[i]["status"] == FAILED
    events = store.events("customers", "salesforce", "run")
    assert [(e["internal_id"], e["error_message"], e["error_field"]) for e in events] == \
        [(o.internal_id, o.error_message, o.error_field) for o in outcomes]
    assert all(e["occurred_at"] is not None for e in events)


def test_many_rows_in_one_call_and_a_key_given_twice_keeps_its_last_outcome(engine):
    store = MappingStore(engine)
    ops = [op(str(i)) for i in range(5000)]
    store.record_intents("run", ops)
    store.record_outcomes("run", [Outcome.of(o, SYNCED, external_id=f"001{o.internal_id}") for o in ops] +
                          [Outcome.of(op("7", "f2"), SYNCED, external_id="001new")])
    assert store.status_counts("customers", "salesforce") == {SYNCED: 5000}
    states = store.load_states("customers", "salesforce", ["7", "4999"])
    assert (states[("7", "Account")].external_id, states[("7", "Account")].fingerprint) == ("001new", "f2")
    assert states[("4999", "Account")].external_id == "0014999"
    assert len(store.events("customers", "salesforce", "run")) == 5001  # the log keeps every attempt


# -- values shared by a call: bound once, not staged per row ---------------------------------------------------------
NOW = dt.datetime(2024, 5, 1, 12, 0, 0, 123456, tzinfo=dt.timezone.utc)


def _raw(engine, table, order):
    """Every column as the database stores it (text on SQLite), so a value written another way shows."""
    with engine.connect() as connection:
        columns = [cast(c, Text).label(c.name) for c in table.c if c.name != "id"]
        return [dict(r._mapping) for r in connection.execute(select(*columns).order_by(order))]


def test_constants_land_exactly_as_sqlalchemy_writes_them(engine):
    later = NOW + dt.timedelta(hours=1)
    constants = {"catalog": "customers", "system": "salesforce", "status": PENDING, "attempts": 3,
                 "created_at": NOW, "updated_at": NOW, "last_error": "tab\there \\N", "fingerprint": None}
    with engine.begin() as connection:
        bulkwrite.upsert(connection, mappings, KEY, ("internal_id", "object_type", "next_retry_at"),
                         iter([("a", "Account", later), ("b", "Account", None)]), {"status": FAILED}, constants)
        connection.execute(mappings.insert().values(internal_id="ref", object_type="Account", next_retry_at=later,
                                                    **constants))
    a, b, ref = _raw(engine, mappings, mappings.c.internal_id)
    assert a | {"internal_id": "ref"} == ref
    assert b | {"internal_id": "ref", "next_retry_at": ref["next_retry_at"]} == ref and b["next_retry_at"] is None


def test_append_keeps_the_order_given_and_adds_the_constants_to_every_row(engine):
    columns = ("catalog", "internal_id", "system", "object_type", "operation", "outcome", "error_message", "attempt")
    rows = [("customers", f"{i}", "salesforce" if i % 2 else "stripe", "Account", "create", "failed",
             None if i % 3 else "line\nbreak", i) for i in range(30)]
    with engine.begin() as connection:
        bulkwrite.append(connection, sync_events, columns, iter(rows), {"run_id": "run", "occurred_at": NOW})
        connection.execute(sync_events.insert().values(**dict(zip(columns, rows[0])), run_id="run", occurred_at=NOW))
    stored = _raw(engine, sync_events, sync_events.c.id)
    assert [tuple(r[c] for c in columns) for r in stored[:-1]] == \
        [tuple(None if v is None else str(v) for v in row) for row in rows]
    assert stored[0] == stored[-1]  # the first row, as SQLAlchemy writes it


def test_one_call_with_several_catalogs_and_systems_writes_each_row_under_its_own(engine):
    store = MappingStore(engine)
    ops = [Operation(catalog, system, "Account", f"{i}", CREATE, {}, "f", None, "k")
           for i in range(4) for catalog in ("customers", "products") for system in ("salesforce", "stripe")]
    store.record_intents("run", ops)
    store.record_outcomes("run", [Outcome.of(o, SYNCED, external_id=f"{o.catalog}/{o.system}/{o.internal_id}")
                                  for o in ops])
    for catalog in ("customers", "products"):
        for system in ("salesforce", "stripe"):
            assert [(r["internal_id"], r["external_id"], r["status"]) for r in store.rows(catalog, system)] == \
                [(f"{i}", f"{catalog}/{system}/{i}", SYNCED) for i in range(4)]
    logged = [e for catalog in ("customers", "products") for system in ("salesforce", "stripe")
              for e in store.events(catalog, system, "run")]
    assert sorted((e["id"], e["catalog"], e["system"], e["internal_id"]) for e in logged) == \
        [(e["id"], o.catalog, o.system, o.internal_id) for e, o in zip(sorted(logged, key=lambda e: e["id"]), ops)]


def _changed(before, after):
    return {name for name in before if before[name] != after[name]}


def test_an_upsert_of_an_existing_row_changes_exactly_its_update_columns(engine, monkeypatch):
    store = MappingStore(engine)
    clock = iter(NOW + dt.timedelta(minutes=m) for m in range(100))
    monkeypatch.setattr(mappings_module, "_now", lambda: next(clock))
    one = op("1")
    store.record_intents("run1", [one])
    store.record_outcomes("run1", [Outcome.of(one, SYNCED, external_id="001")])
    (synced,) = store.rows("customers", "salesforce")
    assert (synced["status"], synced["external_id"], synced["fingerprint"], synced["attempts"]) == \
        (SYNCED, "001", "f1", 0)

    store.record_intents("run2", [op("1", "f2")])
    (pending,) = store.rows("customers", "salesforce")
    assert _changed(synced, pending) == {"status", "last_run_id", "updated_at"} and pending["status"] == PENDING

    store.record_outcomes("run2", [Outcome.of(op("1", "f2"), FAILED, external_id=None, error_code="E",
                                              error_field="Name", error_message="no", transient=True)])
    (failed,) = store.rows("customers", "salesforce")
    assert _changed(pending, failed) == {"status", "attempts", "last_error_code", "last_error_field", "last_error",
                                         "updated_at", "failure_kind", "next_retry_at"}
    assert (failed["attempts"], failed["external_id"], failed["fingerprint"]) == (1, "001", "f1")

    store.record_outcomes("run3", [Outcome.of(op("1", "f2"), INVALID, error_code="V", error_message="bad")])
    (invalid,) = store.rows("customers", "salesforce")
    assert _changed(failed, invalid) == {"status", "last_error_code", "last_error_field", "last_error",
                                         "last_run_id", "updated_at", "failure_kind", "next_retry_at"}
    assert (invalid["attempts"], invalid["failure_kind"], invalid["next_retry_at"]) == (1, None, None)

    store.record_outcomes("run4", [Outcome.of(op("1", "f3"), SYNCED, external_id=None)])
    (resynced,) = store.rows("customers", "salesforce")
    assert _changed(invalid, resynced) == {"status", "fingerprint", "attempts", "last_error_code", "last_error",
                                           "last_run_id", "updated_at", "synced_at"}
    assert (resynced["external_id"], resynced["fingerprint"], resynced["attempts"]) == ("001", "f3", 0)
    assert resynced["created_at"] == synced["created_at"] and resynced["id"] == synced["id"]


def test_a_key_another_transaction_inserts_meanwhile_is_updated_not_refused(postgres_url):
    """PostgreSQL's fast path (UPDATE the rows that exist, INSERT the rest) cannot see a row another transaction
    has inserted and not committed yet: the INSERT waits for it, is refused by the unique index once it commits,
    and the upsert falls back to ON CONFLICT in its savepoint, so the call still succeeds and updates that row."""
    import threading

    from zensync_pipelines.store import digests, migrate
    from zensync_pipelines.store.db import make_engine
    from zensync_pipelines.store.tables import row_digests

    engine = make_engine(postgres_url)
    migrate.upgrade(engine)
    rival = engine.connect()
    rival.begin()
    rival.execute(row_digests.insert().values(tenant="default", catalog="customers", system="salesforce",
                                              internal_id="2", digest="theirs"))
    failures = []

    def store() -> None:
        try:
            with engine.begin() as connection:
                digests.store(connection, "customers", "salesforce", {"1": "a", "2": "ours", "3": "c"})
        except Exception as error:  # noqa: BLE001 - reported by the assertion below
            failures.append(error)

    writer = threading.Thread(target=store)
    writer.start()
    writer.join(timeout=1.0)
    assert writer.is_alive(), "the insert of key 2 should wait for the rival transaction"
    rival.commit()
    rival.close()
    writer.join(timeout=10)
    assert not writer.is_alive() and failures == []
    with engine.connect() as connection:
        stored = dict(connection.execute(select(row_digests.c.internal_id, row_digests.c.digest)).all())
    assert stored == {"1": "a", "2": "ours", "3": "c"}
    engine.dispose()
