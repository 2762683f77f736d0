"""Set-based bookkeeping writes: values survive COPY's text format and the SQLite staging exactly."""

from zensync_pipelines.engine.types import CREATE, FAILED, SYNCED, Operation, Outcome
from zensync_pipelines.store.mappings import MappingStore

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
