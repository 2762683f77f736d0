"""Sync strategies: what each mode writes (engine), and what each trigger builds (factory)."""

import dataclasses

import pytest
from dagster import AssetKey

from zensync_pipelines.dagster_defs.factory import build_catalog_definitions
from zensync_pipelines.dagster_defs.settings import AutomationSettings
from zensync_pipelines.engine.spec import SpecError
from zensync_pipelines.engine.strategy import Strategy
from zensync_pipelines.engine.sync import Selection, SyncRun
from zensync_pipelines_tests.engine.test_sync import SPEC, rows
from zensync_pipelines_tests.memory_system import ListSource, MemorySystem


def with_strategy(**kwargs):
    return dataclasses.replace(SPEC, strategies={"memory": Strategy(**kwargs)})


def run(spec, store, system, data, run_id):
    return SyncRun(spec, "memory", ListSource(data), store, system, run_id).run(Selection())


def life(spec, store):
    """Create 3 rows, rename row 1, soft-delete row 2, hard-delete row 3: what reached the system?"""
    system, data = MemorySystem(), rows(3)
    run(spec, store, system, data, "r1")
    data[0]["name"] = "Renamed"
    data[1]["deleted_at"] = "2025-01-01"
    second = run(spec, store, system, data, "r2")
    gone = SyncRun(spec, "memory", ListSource(data[:2]), store, system, "r3").delete_missing(["3"])
    return system, second, gone


@pytest.mark.usefixtures("batches")  # in-memory and spooled batches
def test_mirror_creates_updates_and_deletes(store):
    system, second, gone = life(SPEC, store)
    assert (second.updated, second.deleted, gone.deleted) == (2, 2, 2)
    assert sorted(o["name"] for o in system.live("account").values()) == ["Renamed"]


@pytest.mark.usefixtures("batches")  # in-memory and spooled batches
def test_upsert_never_deletes(store):
    system, second, gone = life(with_strategy(mode="upsert"), store)
    assert (second.updated, second.deleted, gone.deleted, gone.api_calls) == (2, 0, 0, 0)
    assert sorted(o["name"] for o in system.live("account").values()) == ["Person 2", "Person 3", "Renamed"]


@pytest.mark.usefixtures("batches")  # in-memory and spooled batches
def test_insert_only_creates_once_and_never_updates(store):
    system, second, gone = life(with_strategy(mode="insert_only"), store)
    assert (second.created, second.updated, second.deleted, gone.deleted) == (0, 0, 0, 0)
    assert sorted(o["name"] for o in system.live("account").values()) == ["Person 1", "Person 2", "Person 3"]
    assert [w for w in system.writes if w[0] != "create"] == []


@pytest.mark.parametrize("strategy, message", [
    (Strategy(mode="merge"), "mode 'merge' is not one of"),
    (Strategy(trigger="schedule"), "needs cron="),
    (Strategy(cron="0 * * * *"), "cron applies to trigger 'schedule' only"),
])
def test_a_strategy_that_cannot_work_is_refused(strategy, message):
    with pytest.raises(SpecError, match=message):
        dataclasses.replace(SPEC, strategies={"memory": strategy})
    with pytest.raises(SpecError, match="names a system the spec does not sync to"):
        dataclasses.replace(SPEC, strategies={"hubspot": Strategy()})


def definitions(strategy):
    spec = dataclasses.replace(SPEC, strategies={"memory": strategy}) if strategy else SPEC
    return build_catalog_definitions(spec, AutomationSettings(reconcile_cron="0 3 * * *"))


def automation(defs):
    return ({s.name: s for s in defs.sensors or []}, {s.name: s.cron_schedule for s in defs.schedules or []})


def asset_info(defs):
    [external] = [a for a in defs.assets if a.key == AssetKey(["memory", "people"])]
    return external.specs_by_key[external.key]


def test_trigger_changes_builds_a_sensor_and_the_reconcile_schedule():
    defs = definitions(None)
    sensors, schedules = automation(defs)
    assert sorted(sensors) == ["people_changes", "people_memory_retries"]
    assert schedules == {"people_memory_reconcile": "0 3 * * *"}
    spec = asset_info(defs)
    assert "Strategy: mirror (create, update, delete); on change" in spec.description
    assert spec.metadata["strategy_mode"].value == "mirror"
    assert spec.metadata["strategy_trigger"].value == "changes"


def test_trigger_schedule_builds_only_its_cron_schedule():
    defs = definitions(Strategy(mode="upsert", trigger="schedule", cron="*/15 * * * *"))
    sensors, schedules = automation(defs)
    # Only the retry sensor: transient failures of a scheduled copy heal before its next scheduled run.
    assert list(sensors) == ["people_memory_retries"] and schedules == {"people_memory_reconcile": "*/15 * * * *"}
    spec = asset_info(defs)
    assert "on schedule `*/15 * * * *`" in spec.description and "upsert" in spec.description
    assert spec.metadata["strategy_trigger"].value == "schedule */15 * * * *"


def test_trigger_manual_builds_no_sensor_and_no_schedule():
    defs = definitions(Strategy(mode="insert_only", trigger="manual"))
    assert automation(defs) == ({}, {})
    # The copy's jobs stay, for a manual launch: its sync, the whole catalog, the fan-out over workers.
    assert sorted(job.name for job in defs.jobs) == ["sync_people_memory", "sync_people_memory_all",
                                                     "sync_people_memory_fanout"]
    assert asset_info(defs).metadata["strategy_mode"].value == "insert_only"
