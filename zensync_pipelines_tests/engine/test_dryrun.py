"""A dry run plans exactly what a sync would do and writes nothing; a run can split its counts by row group."""

import pytest

from sqlalchemy import func, select

from zensync_pipelines.engine.dryrun import SKIP, Planner
from zensync_pipelines.engine.sync import Selection, SyncRun
from zensync_pipelines.store.tables import mappings, sync_events
from zensync_pipelines_tests.memory_system import ListSource, MemorySystem

from .test_sync import SPEC, rows, run

pytestmark = pytest.mark.usefixtures("batches")  # each test with in-memory and spooled batches


def table_rows(store_):
    with store_.engine.connect() as connection:
        return [connection.execute(select(func.count()).select_from(t)).scalar() for t in (mappings, sync_events)]


def test_plan_counts_actions_samples_field_diffs_and_lists_rejections_without_writing(store):  # noqa: F811
    data = rows(6)
    system = MemorySystem()
    run(store, system, data)
    before = table_rows(store)
    data[0]["name"] = "Renamed One"  # account and contact change
    data[1]["email"] = "new2@example.com"  # contact only
    data[2]["name"] = None  # required: rejected
    data.append({"id": 7, "name": "Person 7", "email": "p7@example.com", "deleted_at": None})
    data[3]["deleted_at"] = "2025-01-01"

    def reader(object_type, external_ids):
        return {i: system.objects[object_type][i] for i in external_ids}

    plan = Planner(SPEC, "memory", ListSource(data), store, reader=reader).plan(Selection())
    assert table_rows(store) == before and len(system.writes) == 12  # nothing written anywhere
    assert plan.counts[("account", "update")] == 1 and plan.counts[("contact", "update")] == 2
    assert plan.counts[("account", "create")] == 1 and plan.counts[("contact", "create")] == 1
    assert plan.counts[("account", "delete")] == 1 and plan.counts[("contact", "delete")] == 1
    assert plan.counts[("account", SKIP)] == 3 and plan.counts[("contact", SKIP)] == 2  # rows (2,) 5, 6
    assert plan.totals() == {"create": 2, "update": 3, "delete": 2, SKIP: 5, "invalid": 1, "waiting": 1}
    invalid, waiting = plan.rejected  # row 3: its account is invalid, its contact waits for the account
    assert (invalid.internal_id, invalid.object_type, invalid.error_field) == ("3", "account", "name")
    assert "required" in invalid.error_message
    assert (waiting.internal_id, waiting.object_type, waiting.status) == ("3", "contact", "waiting")
    diffs = {(s.internal_id, s.object_type): s.changes for s in plan.samples if s.action == "update"}
    [name] = diffs[("1", "account")]
    assert (name.path, name.old, name.new) == ("name", "Person 1", "Renamed One")
    assert [(c.path, c.old, c.new) for c in diffs[("2", "contact")]] == [("email", "p2@example.com",
                                                                         "new2@example.com")]


def test_a_run_split_by_group_counts_each_groups_own_rows(store):  # noqa: F811
    data = rows(6)
    data[4]["name"] = None
    sync_run = SyncRun(SPEC, "memory", ListSource(data), store, MemorySystem(), "r1",
                       group_of=lambda row: "odd" if row["id"] % 2 else "even")
    report = sync_run.run(Selection())
    odd, even = sync_run.groups["odd"], sync_run.groups["even"]
    assert (odd.created, odd.failed, odd.waiting) == (4, 1, 1) and (even.created, even.failed) == (6, 0)
    assert report.created == odd.created + even.created


def test_groups_add_up_across_batches_and_verdicts(store):  # noqa: F811
    """Small chunks and batches, verdicts held past their rows' batches: each group's counts are its own rows'
    (operations and outcomes carry their row's group). A stop midway counts what was done."""
    data = rows(40)
    for row in data[::7]:
        row["name"] = None  # its account is invalid, its contact waits

    def parity(row):
        return "odd" if row["id"] % 2 else "even"

    sync_run = SyncRun(SPEC, "memory", ListSource(data), store, MemorySystem(batch_size=3), "r1", chunk_size=4,
                       group_of=parity)
    sync_run.run(Selection())
    refused = {parity(row) for row in data[::7]}
    for name in ("odd", "even"):
        mine = [row for row in data if parity(row) == name]
        bad = sum(1 for row in mine if row["name"] is None)
        group = sync_run.groups[name]
        assert (group.created, group.failed, group.waiting) == (2 * (len(mine) - bad), bad, bad), name
    assert refused == {"odd", "even"}

    stopped = MemorySystem(batch_size=3)
    stopped.stop_after_writes = 10
    fresh = [dict(row, id=row["id"] + 100) for row in rows(12)]
    sync_run = SyncRun(SPEC, "memory", ListSource(fresh), store, stopped, "r2", chunk_size=4, group_of=parity)
    report = sync_run.run(Selection())
    assert report.stopped_reason and report.deferred
    assert sum(g.created + g.deferred for g in sync_run.groups.values()) == report.created + report.deferred
