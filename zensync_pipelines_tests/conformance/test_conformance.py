"""What every system adapter must do, run through the engine against each registered system's sandbox."""

import datetime as dt

import pytest

from zensync_pipelines.engine.spec import CatalogSpec, ExternalObject, Field
from zensync_pipelines.engine.sync import Selection, sync
from zensync_pipelines.store import migrate
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines.systems.base import ReadsChanges

from ..memory_system import ListSource

T0 = dt.datetime(2025, 3, 1, tzinfo=dt.timezone.utc)


def spec_for(harness):
    return CatalogSpec(name="people", table="people", primary_key="id", cursor_column="updated_at",
                       created_at_column="created_at", soft_delete_column="deleted_at", systems={
                           harness.system: [ExternalObject(harness.object_type, [
                               Field("name", harness.targets["name"], required=True),
                               Field("email", harness.targets["email"])],
                               external_id_field=harness.external_id_field)]})


def person(i, **changes):
    return {"id": i, "name": f"Person {i}", "email": f"person{i}@example.com", "created_at": T0,
            "updated_at": T0, "deleted_at": None} | changes


class World:
    def __init__(self, harness, sqlite_url):
        self.harness, self.spec = harness, spec_for(harness)
        engine = make_engine(sqlite_url)
        migrate.upgrade(engine)
        self.mappings = MappingStore(engine)
        self.rows = [person(i) for i in range(1, 6)]
        self.runs = 0

    def sync(self):
        self.runs += 1
        return sync(self.spec, self.harness.system, ListSource(self.rows), self.mappings,
                    self.harness.new_adapter(), f"run-{self.runs}", Selection())

    def mapping(self, i):
        [row] = self.mappings.rows("people", self.harness.system, internal_id=str(i))
        return row


@pytest.fixture
def world(harness, sqlite_url):
    return World(harness, sqlite_url)


def test_create_update_and_delete_reach_the_system(world):
    first = world.sync()
    assert (first.created, first.failed) == (5, 0)
    ids = {i: world.mapping(i)["external_id"] for i in range(1, 6)}
    created = world.harness.read(ids[2])
    assert (created["name"], created["zenskar_id"]) == ("Person 2", "2")

    world.rows[1] = person(2, name="Renamed 2")
    world.rows[2] = person(3, deleted_at=T0)
    second = world.sync()
    assert (second.updated, second.deleted, second.failed) == (1, 1, 0)
    assert world.harness.read(ids[2])["name"] == "Renamed 2"
    assert world.harness.read(ids[3]) is None
    assert world.sync().api_calls == 0


def test_a_retry_after_a_lost_write_creates_nothing_twice(world):
    world.rows = world.rows[:2]
    world.harness.lose_next_write()
    try:
        report = world.sync()
        assert report.created < 2  # the lost write was not recorded as done
    except world.harness.crash_error:
        pass
    world.harness.heal()
    world.sync()
    assert all(world.mapping(i)["status"] == "synced" for i in (1, 2))
    assert world.harness.tagged() == {"1": 1, "2": 1}


def test_one_rejected_row_fails_alone_in_its_batch(world):
    world.rows[2] = person(3, **world.harness.rejected)
    report = world.sync()
    assert (report.created, report.failed) == (4, 1)
    [failure] = report.failures
    assert failure.internal_id == "3" and failure.error_code and failure.error_message
    assert set(world.harness.tagged()) == {"1", "2", "4", "5"}


def test_a_validation_reject_is_recorded_and_retried_without_creating(world):
    world.rows = [person(1, **world.harness.rejected)]
    world.sync()
    world.sync()
    row = world.mapping(1)
    assert row["status"] == "failed" and row["attempts"] == 2 and row["last_error"]
    assert "1" not in world.harness.tagged()


def test_rate_limited_requests_are_retried_not_lost_or_doubled(world):
    world.rows = world.rows[:5]
    clean = world.sync()
    world.rows += [person(i) for i in range(6, 11)]
    world.harness.throttle()
    report = world.sync()
    assert (report.created, report.failed) == (5, 0)
    assert report.api_calls > clean.api_calls  # the same work, plus the refused requests, retried
    world.harness.heal()
    assert world.harness.tagged() == {str(i): 1 for i in range(1, 11)}


def test_changes_read_back_name_the_rows_and_what_happened(world):
    adapter = world.harness.new_adapter()
    assert isinstance(adapter, ReadsChanges) == world.harness.reads_changes
    if not world.harness.reads_changes:
        return
    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=5)
    world.rows = world.rows[:2]
    world.sync()
    world.rows[0] = person(1, name="Changed")
    world.rows[1] = person(2, deleted_at=T0)
    world.sync()
    changes = adapter.read_changes(world.harness.object_type, since)
    # Rows are written concurrently, so only each row's own changes have an order to keep.
    per_row = {i: [c for c in changes if c.internal_id == i] for i in ("1", "2")}
    assert [c.kind for c in per_row["1"]] == ["created", "updated"] and len(changes) == 4
    assert [c.kind for c in per_row["2"]] == ["created", "deleted"]
    assert per_row["1"][1].fields["name"] == "Changed"
    assert per_row["1"][0].external_id == world.mapping(1)["external_id"]
    assert adapter.read_changes(world.harness.object_type, dt.datetime.now(dt.timezone.utc) + dt.timedelta(1)) == []
