"""A system added through the registry alone: one entry, and the resources, the factory, a Dagster run and
`zensync dev` all know it; without its settings `zensync dev` skips it with one line and builds no sensor."""

import json

import pytest
from dagster import DagsterInstance, Definitions

from zensync_pipelines.dagster_defs.factory import build_catalog_definitions
from zensync_pipelines.dagster_defs.resources import CatalogDatabase, default_resources
from zensync_pipelines.dagster_defs.settings import SKIP_SYSTEMS, AutomationSettings
from zensync_pipelines.demo.seed import seed_customers
from zensync_pipelines.cli.dev_systems import start_systems
from zensync_pipelines.engine.spec import CatalogSpec, ExternalObject, Field
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.systems.registry import REGISTRY, SystemEntry, register, unregister

ENV = "ZENSYNC_JOURNAL2_PATH"
SPEC = CatalogSpec(name="customers", table="customers", primary_key="id", cursor_column="updated_at",
                   created_at_column="created_at", soft_delete_column="deleted_at", systems={"journal": [
                       ExternalObject("contact", [Field("name", "name", required=True, max_length=100),
                                                  Field("email", "email")])]})


@pytest.fixture
def journal_system():
    """The one line a new system takes (in the registry module; here registered and removed by the test)."""
    entry = register(SystemEntry(
        "journal", adapter="zensync_pipelines_tests.jsonl_system:JsonlSystem",
        resource="zensync_pipelines_tests.extensibility.test_new_system:journal_resource",
        environment=(ENV,), required=((ENV,),)))
    yield entry
    unregister("journal")


def journal_resource():
    from dagster import EnvVar

    from zensync_pipelines_tests.jsonl_system import JsonlResource

    return JsonlResource(path=EnvVar(ENV))


def test_a_registered_system_syncs_through_dagster_with_no_other_edit(journal_system, sqlite_url, tmp_path,
                                                                      monkeypatch):
    journal = tmp_path / "journal.jsonl"
    monkeypatch.setenv(ENV, str(journal))
    seed_customers(make_engine(sqlite_url), 10)
    resources = default_resources(catalog_db=CatalogDatabase(url=sqlite_url))
    assert "journal" in resources and set(REGISTRY) <= set(resources)
    defs = Definitions.merge(build_catalog_definitions(SPEC, AutomationSettings()), Definitions(resources=resources))
    result = defs.resolve_job_def("sync_customers_journal").execute_in_process(instance=DagsterInstance.ephemeral())
    assert result.success
    [event] = [e for e in result.get_asset_materialization_events() if e.partition is None]  # the run's totals
    metadata = {k: v.value for k, v in event.materialization.metadata.items()}
    assert metadata["created"] == 9 and metadata["failed"] == 1  # customer 7 of the demo has no name
    written = [json.loads(line) for line in journal.read_text().splitlines()]
    assert len({record["fields"]["zenskar_id"] for record in written}) == 9


def test_zensync_dev_skips_a_system_without_settings_in_one_line(journal_system, tmp_path):
    without_sandboxes = {name: entry for name, entry in REGISTRY.items() if entry.sandbox is None}
    systems = start_systems(tmp_path, {}, environ={})
    try:
        lines = [line for line in systems.lines if line.startswith("journal")]
        assert lines == [f"journal: skipped, {ENV} not set (no sandbox): its sensors and schedules are off"]
        assert set(systems.skipped) == set(without_sandboxes) and "journal" in systems.skipped
        assert systems.environment[SKIP_SYSTEMS].split(",") == systems.skipped
        assert any(line.startswith("stripe sandbox:") for line in systems.lines)
    finally:
        systems.stop()
    settings = AutomationSettings(skipped_systems=tuple(systems.skipped))
    defs = build_catalog_definitions(SPEC, settings)
    assert not defs.sensors and not defs.schedules  # its jobs stay, to run by hand
    assert sorted(job.name for job in defs.jobs) == ["sync_customers_journal", "sync_customers_journal_all",
                                                         "sync_customers_journal_fanout"]
    configured = start_systems(tmp_path / "again", {}, environ={ENV: "/tmp/j.jsonl", "ZENSYNC_JSONL_PATH": "x"})
    configured.stop()
    assert "journal" not in configured.skipped
