"""The production dagster.yaml: Postgres storage, a run queue, and one sync at a time per external system."""

import shutil
from pathlib import Path

from dagster import DagsterInstance
from dagster._core.run_coordinator import QueuedRunCoordinator

from zensync_pipelines.definitions import defs

ROOT = Path(__file__).resolve().parents[2]


def test_production_instance_queues_runs_and_limits_each_system_pool_to_one(postgres_url, tmp_path, monkeypatch):
    shutil.copy(ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_POSTGRES_URL", postgres_url)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with DagsterInstance.get() as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert isinstance(instance.run_coordinator, QueuedRunCoordinator)
        assert instance.run_coordinator.dequeue_interval_seconds == 1
        assert instance.get_settings("sensors") == {"use_threads": True, "num_workers": 4}
        assert instance.get_concurrency_config().pool_config.default_pool_limit == 1

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
