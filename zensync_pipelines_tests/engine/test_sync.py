import pytest

from zensync_pipelines.engine.spec import CatalogSpec, ExternalObject, Field
from zensync_pipelines.engine.sync import Selection, sync
from zensync_pipelines.engine.types import FAILED, INVALID, SYNCED, WAITING
from zensync_pipelines_tests.memory_system import ListSource, MemorySystem, SimulatedCrash

pytestmark = pytest.mark.usefixtures("batches")  # each test with in-memory and spooled batches

SPEC = CatalogSpec(
    name="people", table="people", primary_key="id", cursor_column="updated_at", created_at_column="created_at",
    soft_delete_column="deleted_at",
    systems={"memory": [
        ExternalObject("account", [Field("name", "name", required=True, max_length=20)]),
        ExternalObject("contact", [Field("name", "last_name", required=True), Field("email", "email", type="email")],
                       after="account"),
    ]},
)


def rows(count):
    return [{"id": i, "name": f"Person {i}", "email": f"p{i}@example.com", "deleted_at": None}
            for i in range(1, count + 1)]


def run(store, system, data, run_id="r1", **kwargs):
    return sync(SPEC, "memory", ListSource(data), store, system, run_id, Selection(), **kwargs)


def test_failures_are_isolated_recorded_and_retried(store):
    data = rows(10)
    data[2]["name"] = None  # invalid: required
    data[3]["email"] = "nope"  # account fine, contact invalid
    system = MemorySystem(batch_size=4)
    system.reject["5"] = ("DUPLICATE_VALUE", "duplicate value found", "name")
    report = run(store, system, data)
    assert report.created == 7 + 8  # every valid account and contact but row 5's
    assert report.failed == 3 and report.waiting == 2
    states = {(r["internal_id"], r["object_type"]): r for r in store.rows("people", "memory")}
    assert states[("3", "account")]["status"] == INVALID and states[("3", "account")]["last_error_field"] == "name"
    assert states[("4", "contact")]["last_error"] == "email: 'nope' is not an email address"
    assert states[("5", "account")]["status"] == FAILED
    assert states[("5", "account")]["last_error_code"] == "DUPLICATE_VALUE"
    assert states[("5", "contact")]["status"] == WAITING
    assert "waiting for account: duplicate value found" in states[("5", "contact")]["last_error"]

    del system.reject["5"]
    calls = system.api_calls
    again = run(store, system, data, run_id="r2")
    assert (again.created, again.skipped) == (2, 15)
    assert system.api_calls - calls == 2 == again.api_calls
    assert store.rows("people", "memory", internal_id="5", object_type="account")[0]["attempts"] == 0
    assert len(system.live("account")) == 9 and len(system.live("contact")) == 8


def test_an_unchanged_catalog_costs_no_call(store):
    system = MemorySystem()
    run(store, system, rows(50))
    calls = system.api_calls
    report = run(store, system, rows(50), run_id="r2")
    assert system.api_calls == calls and report.skipped == 100 and report.created == 0


def test_a_crash_between_write_and_bookkeeping_duplicates_nothing(store):
    system = MemorySystem(batch_size=5)
    system.crash_after_writes = 7  # in the second batch, after its external writes landed
    with pytest.raises(SimulatedCrash):
        run(store, system, rows(10))
    pending = [r for r in store.rows("people", "memory") if r["status"] == "pending"]
    assert pending, "intents of the crashed batch must be on record"
    report = run(store, system, rows(10), run_id="r2")
    assert report.failed == 0
    assert len(system.live("account")) == 10 and len(system.live("contact")) == 10
    assert all(r["status"] == SYNCED for r in store.rows("people", "memory"))


def test_a_stopped_run_records_what_it_did_and_defers_the_rest(store):
    system = MemorySystem(batch_size=10)
    system.stop_after_writes = 4
    report = run(store, system, rows(6))
    assert report.stopped_reason == "budget spent"
    assert report.created == 4 and report.deferred == 6  # the rest of the first batch of 10
    outcomes = [e["outcome"] for e in store.events("people", "memory", run_id="r1")]
    assert outcomes.count("deferred") == 6 and outcomes.count(SYNCED) == 4
    system.stop_after_writes = None
    rest = run(store, system, rows(6), run_id="r2")
    assert rest.created == 8 and len(system.live("account")) == 6


def test_soft_deletes_and_changes_write_exactly_what_changed(store):
    system = MemorySystem()
    data = rows(5)
    run(store, system, data)
    data[0]["name"] = "Renamed"
    data[1]["deleted_at"] = "2026-11-28"
    before = len(system.writes)
    report = run(store, system, data, run_id="r2")
    assert (report.updated, report.deleted, report.skipped) == (2, 2, 6)
    assert sorted(system.writes[before:]) == [("delete", "account", "2"), ("delete", "contact", "2"),
                                              ("update", "account", "1"), ("update", "contact", "1")]
    assert run(store, system, data, run_id="r3").api_calls == 0


def test_every_attempt_is_an_event_with_run_and_attempt(store):
    system = MemorySystem()
    data = rows(1)
    system.reject["1"] = ("boom", "server said no", None)
    run(store, system, data, run_id="a")
    run(store, system, data, run_id="b")
    events = store.events("people", "memory")
    account = [(e["run_id"], e["outcome"], e["attempt"]) for e in events if e["object_type"] == "account"]
    assert account == [("a", FAILED, 1), ("b", FAILED, 2)]


def test_a_rows_objects_stay_in_one_batch_so_a_failed_parent_holds_its_child(store):
    system = MemorySystem(batch_size=3)  # odd, so a naive cut would split row 2's account from its contact
    system.reject["2"] = ("UNABLE_TO_CREATE", "parent refused", None)
    report = run(store, system, rows(3))
    assert report.waiting == 1 and report.failed == 1
    assert ("create", "contact", "2") not in system.writes
    contact = store.rows("people", "memory", internal_id="2", object_type="contact")[0]
    assert contact["status"] == WAITING and "parent refused" in contact["last_error"]
