"""The Dagster instances: the local one (top-level dagster.yaml, no environment needed) and the production one
(deploy/production/dagster.yaml, PostgreSQL storage), with the same run queue, pools and sensor threads."""

import shutil
from pathlib import Path

import yaml
from dagster import AssetKey, DagsterInstance
from dagster._core.run_coordinator import QueuedRunCoordinator

from zensync_pipelines.dagster_defs.scope import COPY_TAG, SCOPE_TAG
from zensync_pipelines.dagster_defs.settings import AutomationSettings
from zensync_pipelines.definitions import defs
from zensync_pipelines.cli.dev import INSTANCE_YAML, dagster_home

from .harness import JOB, Harness

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ROOT / "deploy" / "production" / "dagster.yaml"
DAGSTER_VARIABLES = ("DAGSTER_POSTGRES_URL", "DAGSTER_HOME")


def assert_product_settings(instance: DagsterInstance) -> None:
    assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
    assert instance.run_coordinator.dequeue_interval_seconds == 1
    assert instance.get_settings("sensors") == {"use_threads": True, "num_workers": 16, "num_submit_workers": 4}
    assert type(instance.run_launcher).__name__ == "WarmRunLauncher"
    concurrency = instance.get_concurrency_config()
    # Several syncs per system at once (their requests share one rate: store/lanes.py), one per copy.
    assert concurrency.pool_config.default_pool_limit == 4
    assert concurrency.pool_config.pool_granularity.value == "op"
    # One run per copy (two never sync the same rows), two per lane (a tenant's system; docs/tenants.md).
    copies, lanes = concurrency.run_queue_config.tag_concurrency_limits
    assert copies == {"key": "zensync/copy", "value": {"applyLimitPerUniqueValue": True}, "limit": 1}
    assert lanes == {"key": "zensync/lane", "value": {"applyLimitPerUniqueValue": True}, "limit": 2}


def test_the_top_level_instance_needs_no_environment_and_is_the_one_zensync_dev_uses(tmp_path, monkeypatch):
    for name in DAGSTER_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    # What every `dagster` command does from the repository root without DAGSTER_HOME: a temporary instance
    # configured by ./dagster.yaml.
    monkeypatch.chdir(ROOT)
    from dagster._cli.utils import get_possibly_temporary_instance_for_cli

    with get_possibly_temporary_instance_for_cli("test") as instance:
        assert type(instance.run_storage).__name__ == "SqliteRunStorage"
        assert_product_settings(instance)
    assert (ROOT / "dagster.yaml").resolve() == INSTANCE_YAML.resolve()  # shared, not a copy
    home = dagster_home(tmp_path)
    # zensync dev's instance is the shared file plus its sensor/schedule state storage, named by folder.
    assert (home / "dagster.yaml").read_text().startswith(INSTANCE_YAML.read_text())
    with DagsterInstance.from_config(str(home)) as instance:
        assert_product_settings(instance)
        storage = instance.schedule_storage
        assert type(storage).__name__ == "ZensyncSqliteScheduleStorage"
        assert storage._conn_string == f"sqlite:///{(home / 'schedules' / 'schedules.db').resolve()}"
        assert storage.has_instigators_table() and instance.all_instigator_state() == []


def test_production_differs_from_the_local_instance_in_its_storage_only():
    local, production = yaml.safe_load(INSTANCE_YAML.read_text()), yaml.safe_load(PRODUCTION.read_text())
    assert production.pop("storage") == {"postgres": {"postgres_url": {"env": "DAGSTER_POSTGRES_URL"}}}
    assert "storage" not in local and production == local


def test_the_production_instance_boots_on_postgresql_and_runs_a_sync(postgres_url, database_url,
                                                                     stripe_sandbox_url, tmp_path, monkeypatch):
    shutil.copy(PRODUCTION, tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", postgres_url)  # a schema of its own, dropped after the test
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    harness = Harness(database_url, stripe_sandbox_url, 30, AutomationSettings(), str(tmp_path / "unused"))
    try:
        with DagsterInstance.get() as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            assert type(instance.event_log_storage).__name__ == "PostgresEventLogStorage"
            assert_product_settings(instance)
            harness.instance = instance
            result, totals = harness.run({SCOPE_TAG: "changes"})
            assert totals["created"] == 28 and len(harness.remote()) == 28  # rows 7 and 23 are invalid
            [record] = instance.get_run_records()
            assert record.dagster_run.run_id == result.run_id and record.dagster_run.job_name == JOB
            assert instance.get_materialized_partitions(AssetKey(["stripe", "customers"]))  # months it touched
    finally:
        harness.engine.dispose()


def test_each_system_has_its_own_pool():
    graph = defs.resolve_asset_graph()
    # External copies: [system, catalog]. Inbound assets ([system, "inbound", catalog]) take no pool: they apply
    # the inbox to the catalog and must not queue behind a long sync of the same system.
    external = [key for key in graph.get_all_asset_keys() if key.path[0] != "catalog" and len(key.path) == 2]
    assert external
    for key in external:
        # The pool is the system's name: sensor runs, reconciles and backfills of any catalog share it.
        [node] = [n for n in defs.resolve_job_def(f"sync_{key.path[1]}_{key.path[0]}").nodes
                  if n.name == "__".join(key.path)]
        assert node.definition.pool == f"{key.path[0]}_api"
        # Both jobs of the copy carry its tag, which the run queue limits to one run at a time.
        for name in (f"sync_{key.path[1]}_{key.path[0]}", f"sync_{key.path[1]}_{key.path[0]}_all"):
            assert defs.resolve_job_def(name).tags[COPY_TAG] == f"{key.path[1]}.{key.path[0]}"
