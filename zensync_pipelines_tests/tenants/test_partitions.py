"""The tenant as the partition of the external copies (SQLite and PostgreSQL, a real Dagster instance, the real
Stripe SDK against the Stripe sandbox's connected accounts): months until a tenant is registered; then a tenant's
partition launched from the UI syncs that tenant's rows only, in its own account, with its tenant's tags; an
unregistered, disabled or mixed launch fails with one line before any call; the partitions follow the registry;
and each check names the tenants that fail."""

from __future__ import annotations

import dataclasses
import datetime as dt

import pytest
import stripe
from dagster import (AddDynamicPartitionsRequest, BackfillPolicy, DagsterInstance, DeleteDynamicPartitionsRequest,
                     Definitions, DynamicPartitionsDefinition, MonthlyPartitionsDefinition,
                     build_sensor_context)
from sqlalchemy import Column, MetaData, String, Table

from zensync_pipelines.catalogs import load_specs
from zensync_pipelines.catalogs.customers import SPEC as CUSTOMERS
from zensync_pipelines.dagster_defs.external import build_external_asset
from zensync_pipelines.dagster_defs.factory import build_catalog_definitions, job_name
from zensync_pipelines.dagster_defs.resources import CatalogDatabase
from zensync_pipelines.dagster_defs.scope import (FROM_TAG, RANGE_END, RANGE_START, TENANT_PARTITIONS, TENANT_TAG,
                                                  TO_TAG)
from zensync_pipelines.dagster_defs.tenant_partitions import (PARTITION_BY, PARTITIONS_SENSOR, PartitioningError,
                                                              build_partitions_sensor, by_tenant, partition_by)
from zensync_pipelines.dagster_defs.tenant_systems import LANE_TAG
from zensync_pipelines.demo.tables import customers
from zensync_pipelines.store import migrate
from zensync_pipelines.store.tenants import Tenant, TenantStore
from zensync_pipelines.systems.stripe import StripeResource

KEY = "sk_test_platform_partitions"
STRIPE_ONLY = dataclasses.replace(CUSTOMERS, table="tenant_customers", systems={"stripe": CUSTOMERS.systems["stripe"]})
SPEC = by_tenant(STRIPE_ONLY, "tenant")
JOB = job_name(SPEC, "stripe")
# Both tenants have customers 1-3 (per-tenant id sequences); customer n was created in month n of 2025.
ROWS = {"t1": [1, 2, 3], "t2": [1, 2, 3], "default": [9]}


def _row(tenant: str, i: int) -> dict:
    created = dt.datetime(2025, i if i <= 12 else 1, 15, tzinfo=dt.timezone.utc)
    return {"tenant_id": tenant, "id": i, "name": f"{tenant.upper()} customer {i}", "email": f"{i}@{tenant}.example",
            "currency": "usd", "created_at": created, "updated_at": created}


def test_the_partitions_follow_the_registry_and_the_override(engine, database_url, tmp_path):
    migrate.upgrade(engine)
    assert partition_by(database_url, {}) == "month"  # no tenant registered: months, as before tenants
    missing = tmp_path / "nothing-here.db"
    assert partition_by(f"sqlite:///{missing}", {}) == "month" and not missing.exists()  # and no file made
    TenantStore(engine).add(Tenant("t1", stripe_account="acct_1Partitions"))
    assert partition_by(database_url, {}) == "tenant"
    assert partition_by(database_url, {PARTITION_BY: "month"}) == "month"
    with pytest.raises(PartitioningError, match=f"^{PARTITION_BY}='weekly' is not one of auto, month, tenant$"):
        partition_by(database_url, {PARTITION_BY: "weekly"})
    down = "postgresql+psycopg2://zensync:S3cret-pw@127.0.0.1:9/nowhere"
    with pytest.raises(PartitioningError) as refused:
        partition_by(down, {})
    assert "S3cret-pw" not in str(refused.value) and f"set {PARTITION_BY}=month or tenant" in str(refused.value)
    assert partition_by(down, {PARTITION_BY: "tenant"}) == "tenant"  # chosen without reading the registry


def test_by_tenant_the_copies_have_one_dynamic_dimension_and_without_tenants_their_months():
    specs = {spec.name: spec for spec in load_specs()}
    asset = build_external_asset(by_tenant(specs["invoices"], "month"), "stripe")
    assert isinstance(asset.partitions_def, MonthlyPartitionsDefinition)
    assert asset.backfill_policy == BackfillPolicy.single_run()
    assert {k.to_user_string() for k in asset.dependency_keys} == {"catalog/invoices", "stripe/customers"}
    asset = build_external_asset(by_tenant(specs["invoices"], "tenant"), "stripe")
    assert asset.partitions_def == DynamicPartitionsDefinition(name=TENANT_PARTITIONS)
    assert asset.backfill_policy.max_partitions_per_run == 1  # a backfill of several tenants: a run per tenant
    # No partitioned upstream by tenant: the sensors' runs, which name their tenant by tag, can run the asset.
    assert {k.to_user_string() for k in asset.dependency_keys} == {"catalog/invoices"}
    untenanted = by_tenant(dataclasses.replace(specs["plans"], tenant_column=None), "tenant")
    assert not untenanted.tenant_partitions  # a catalog without a tenant column keeps its months


@dataclasses.dataclass
class World:
    engine: object
    defs: Definitions
    url: str
    accounts: dict
    instance: DagsterInstance
    store: TenantStore

    def run(self, partition_key=None, tags=None):
        return self.defs.resolve_job_def(JOB).execute_in_process(instance=self.instance, partition_key=partition_key,
                                                                 tags=tags, raise_on_error=False)

    def names(self, tenant: str) -> dict:
        client = stripe.StripeClient(KEY, stripe_account=self.accounts.get(tenant), base_addresses={"api": self.url})
        return {c.metadata["zenskar_id"]: c.name for c in client.v1.customers.list({"limit": 100}).data}

    def tick(self):
        context = build_sensor_context(instance=self.instance, definitions=self.defs)
        return self.defs.resolve_sensor_def(PARTITIONS_SENSOR).evaluate_tick(context)


@pytest.fixture
def world(engine, database_url, stripe_sandbox, monkeypatch, tmp_path):
    migrate.upgrade(engine)
    table = Table("tenant_customers", MetaData(), Column("tenant_id", String(50), primary_key=True),
                  *(Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable) for c in customers.c
                    if c.name != "tenant_id"))
    table.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(table.insert(), [_row(t, i) for t, ids in ROWS.items() for i in ids])
    platform = stripe.StripeClient(KEY, base_addresses={"api": stripe_sandbox.url})
    accounts = {t: platform.v1.accounts.create({"type": "custom"}).id for t in ("t1", "t2", "t3")}
    monkeypatch.setenv("STRIPE_API_KEY", KEY)
    store = TenantStore(engine)
    for tenant, account in accounts.items():
        store.add(Tenant(tenant, stripe_account=account, status="disabled" if tenant == "t3" else "active"))
    resources = {"catalog_db": CatalogDatabase(url=database_url),
                 "stripe": StripeResource(api_key=KEY, api_base=stripe_sandbox.url, rate_limit_per_second=500,
                                          max_network_retries=0)}
    defs = Definitions.merge(build_catalog_definitions(SPEC), Definitions(sensors=[build_partitions_sensor()]),
                             Definitions(resources=resources))
    # A persistent instance: dynamic partitions, runs and check results are what is looked at.
    (tmp_path / "dagster").mkdir()
    with DagsterInstance.local_temp(tempdir=str(tmp_path / "dagster")) as instance:
        yield World(engine, defs, stripe_sandbox.url, accounts, instance, store)


def _rename(world: World, tenant: str, row: int, name: str) -> None:
    with world.engine.begin() as connection:
        table = Table("tenant_customers", MetaData(), autoload_with=connection)
        connection.execute(table.update().where(table.c.tenant_id == tenant, table.c.id == row).values(name=name))


def _failure(result) -> str:
    return next(e.event_specific_data.error.message for e in result.all_events if e.event_type_value == "STEP_FAILURE")


def test_the_partitions_sensor_keeps_the_tenant_partitions_equal_to_the_registry(world):
    result = world.tick()
    [request] = result.dynamic_partitions_requests
    assert isinstance(request, AddDynamicPartitionsRequest) and request.partitions_def_name == TENANT_PARTITIONS
    assert list(request.partition_keys) == ["default", "t1", "t2", "t3"]  # the disabled tenant keeps its history
    world.instance.add_dynamic_partitions(TENANT_PARTITIONS, request.partition_keys)
    assert world.tick().skip_message == "the tenant partitions match the registry"
    world.store.remove("t3")
    [request] = world.tick().dynamic_partitions_requests
    assert isinstance(request, DeleteDynamicPartitionsRequest) and list(request.partition_keys) == ["t3"]


def test_a_tenants_partition_syncs_its_rows_only_in_its_own_account_with_its_tags(world):
    world.instance.add_dynamic_partitions(TENANT_PARTITIONS, ["default", "t1", "t2", "t3"])
    result = world.run(partition_key="t1")
    assert result.success
    tags = result.dagster_run.tags
    assert (tags[TENANT_TAG], tags[LANE_TAG], tags["zensync/copy"]) == ("t1", "t1:stripe", "t1:customers.stripe")
    assert world.names("t1") == {str(i): f"T1 customer {i}" for i in ROWS["t1"]}
    assert world.names("t2") == {} and world.names("default") == {}  # same ids, other tenants: untouched
    [event] = [e for e in result.get_asset_materialization_events()]
    assert event.partition == "t1" and event.materialization.metadata["created"].value == 3

    # A run as the sensors ask for it (no partition, the tenant by tag) records on its tenant's partition too.
    result = world.run(tags={TENANT_TAG: "t2", LANE_TAG: "t2:stripe"})
    assert result.success and world.names("t2") == {str(i): f"T2 customer {i}" for i in ROWS["t2"]}
    partitions = [(e.partition, e.materialization.metadata["created"].value)
                  for e in result.get_asset_materialization_events()]
    assert partitions == [("t2", 3), (None, 3)]  # the tenant's partition, then the run's totals
    assert world.names("t1") == {str(i): f"T1 customer {i}" for i in ROWS["t1"]}  # unchanged

    # The default tenant is a partition like the others: the platform's own account.
    assert world.run(partition_key="default").success and world.names("default") == {"9": "DEFAULT customer 9"}
    materialized = world.instance.get_materialized_partitions(world.defs.resolve_assets_def(["stripe", "customers"])
                                                                .key)
    assert materialized == {"default", "t1", "t2"}


def test_months_of_one_tenants_history_go_as_tags(world):
    world.instance.add_dynamic_partitions(TENANT_PARTITIONS, ["t1", "t2"])
    result = world.run(partition_key="t2", tags={FROM_TAG: "2025-02", TO_TAG: "2025-02"})
    assert result.success
    assert world.names("t2") == {"2": "T2 customer 2"} and world.names("t1") == {}
    result = world.run(partition_key="t2", tags={FROM_TAG: "2025-03"})
    assert result.success and set(world.names("t2")) == {"2", "3"}
    result = world.run(partition_key="t2", tags={FROM_TAG: "2025-04", TO_TAG: "2025-03"})
    assert not result.success and "the first month comes after the last" in _failure(result)
    result = world.run(partition_key="t2", tags={FROM_TAG: "march"})
    assert not result.success and _failure(result).splitlines()[0].endswith(
        "customers -> stripe: run tag zensync/from='march' is not a month like 2025-03")


def test_an_unregistered_disabled_or_mixed_launch_fails_with_one_line_before_any_call(world):
    world.instance.add_dynamic_partitions(TENANT_PARTITIONS, ["t1", "t2", "t3", "t9"])  # t9: never registered
    cases = {
        "t9": ({}, "stripe: no tenant 't9' is registered (zensync tenants list)"),
        "t3": ({}, "stripe: tenant t3 is disabled: enable it first (zensync tenants enable)"),
    }
    for partition, (tags, line) in cases.items():
        result = world.run(partition_key=partition, tags=tags or None)
        assert not result.success
        assert _failure(result).splitlines()[0] == f"dagster._core.definitions.events.Failure: {line}"
    # The sync job's partitions put their own tenant's tags on the run; a launch of the asset itself (its page's
    # Materialize) takes the tags it is given, so a wrong tenant tag is refused there.
    result = world.defs.resolve_implicit_global_asset_job_def().execute_in_process(
        instance=world.instance, partition_key="t1", tags={TENANT_TAG: "t2"}, raise_on_error=False)
    assert not result.success and _failure(result).splitlines()[0].endswith(
        "customers -> stripe: run tag zensync/tenant=t2 does not match the run's tenant partition t1")
    result = world.run(tags={RANGE_START: "t1", RANGE_END: "t2"})  # a range of tenants in one run
    assert not result.success and "a run syncs one tenant; launch a backfill of these tenants instead" \
        in _failure(result)
    assert all(world.names(t) == {} for t in ("t1", "t2", "t3", "default"))  # no call reached any account


def test_each_check_tells_every_tenants_last_outcome_and_names_the_failing_ones(world):
    world.instance.add_dynamic_partitions(TENANT_PARTITIONS, ["default", "t1", "t2", "t3"])
    _rename(world, "t2", 2, "x" * 300)  # t2's customer 2 cannot be synced: a name over Stripe's limit
    assert world.run(partition_key="t2").success
    checks = {e.check_name: e for e in world.run(partition_key="t1").get_asset_check_evaluations()}
    failed = checks["failed_rows"]
    assert not failed.passed  # t1 is fine, but t2 is not: the copy's check says so in t1's run too
    assert failed.metadata["tenant"].value == "t1" and failed.metadata["invalid"].value == 0  # t1's own details
    assert failed.metadata["failing_tenants"].value == "t2" and failed.metadata["tenants_failing"].value == 1
    assert failed.description.startswith("1 of 2 tenants fail: t2 (1 invalid)")
    assert "| t2 | no | 1 invalid |" in failed.metadata["tenants"].value
    assert not checks["parity"].passed and checks["parity"].metadata["failing_tenants"].value == "t2"
    assert all(e.partition is None for e in checks.values())  # one result per copy, in any run

    _rename(world, "t2", 2, "Fixed")
    checks = {e.check_name: e for e in world.run(tags={TENANT_TAG: "t2", LANE_TAG: "t2:stripe"})
              .get_asset_check_evaluations()}
    assert checks["failed_rows"].passed and checks["parity"].passed
    assert checks["failed_rows"].description == "every tenant passes (2 checked)"
    # A disabled tenant is not synced: its last outcome does not fail the copy.
    world.store.disable("t2")
    _rename(world, "t1", 3, "x" * 300)
    checks = {e.check_name: e for e in world.run(partition_key="t1").get_asset_check_evaluations()}
    assert not checks["failed_rows"].passed and checks["failed_rows"].metadata["failing_tenants"].value == "t1"
    assert checks["failed_rows"].metadata["tenants_checked"].value == 1


def test_a_backfill_of_one_tenants_history_from_the_ui_touches_only_its_rows(world, database_url, monkeypatch,
                                                                               tmp_path):
    """As the UI submits it (an asset backfill of the copy's partition t2), run by Dagster's backfill daemon
    against a code location it loads itself; the runs execute in process (the sync in-memory launcher)."""
    import logging
    import time

    from dagster import DagsterEventType
    from dagster._core.execution.backfill import BulkActionStatus, PartitionBackfill
    from dagster._core.test_utils import create_test_daemon_workspace_context
    from dagster._core.workspace.load_target import ModuleTarget
    from dagster._daemon.backfill import execute_backfill_iteration

    monkeypatch.setenv("ZENSYNC_TEST_LOCATION_DB", database_url)
    monkeypatch.setenv("ZENSYNC_TEST_LOCATION_STRIPE", world.url)
    home = tmp_path / "daemon"
    home.mkdir()
    launcher = {"module": "dagster._core.launcher.sync_in_memory_run_launcher", "class": "SyncInMemoryRunLauncher"}
    target = ModuleTarget(module_name="zensync_pipelines_tests.tenants.partitions_location", attribute="defs",
                          working_directory=None, location_name="zensync")
    coordinator = {"module": "dagster._core.run_coordinator", "class": "DefaultRunCoordinator"}  # no queue daemon
    with DagsterInstance.local_temp(tempdir=str(home), overrides={"run_launcher": launcher,
                                                                  "run_coordinator": coordinator}) as instance, \
            create_test_daemon_workspace_context(target, instance) as workspace:
        instance.add_dynamic_partitions(TENANT_PARTITIONS, ["default", "t1", "t2"])
        key = world.defs.resolve_assets_def(["stripe", "customers"]).key
        graph = workspace.create_request_context().asset_graph
        instance.add_backfill(PartitionBackfill.from_asset_partitions(
            backfill_id="t2history", asset_graph=graph, partition_names=["t2"], asset_selection=[key],
            backfill_timestamp=time.time(), tags={}, dynamic_partitions_store=instance, all_partitions=False,
            title=None, description=None, run_config=None))
        for _ in range(10):
            errors = [e for e in execute_backfill_iteration(workspace, logging.getLogger("backfill")) if e]
            assert not errors, errors[0].to_string()
            if instance.get_backfill("t2history").status != BulkActionStatus.REQUESTED:
                break
        assert instance.get_backfill("t2history").status == BulkActionStatus.COMPLETED_SUCCESS
        [run] = instance.get_runs()
        assert (run.tags[RANGE_START], run.tags[RANGE_END], run.tags["dagster/backfill"]) == ("t2", "t2", "t2history")
        assert world.names("t2") == {str(i): f"T2 customer {i}" for i in ROWS["t2"]}
        assert world.names("t1") == {} and world.names("default") == {}
        assert instance.get_materialized_partitions(key) == {"t2"}
        # Its checks checked t2, the backfill's tenant.
        records = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION).records
        tenants = {r.event_log_entry.dagster_event.event_specific_data.metadata["tenant"].value for r in records}
        assert len(records) == 4 and tenants == {"t2"}
        materializations = instance.get_records_for_run(run.run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)
        assert len(materializations.records) == 1  # the partition's one materialization, with the run's counts


def test_tenants_add_enable_and_remove_update_the_instances_partitions_at_once(database_url, tmp_path, monkeypatch):
    from click.testing import CliRunner

    from zensync_pipelines.cli import main

    home = tmp_path / "dagster_home"
    home.mkdir()
    for name, value in {"ZENSYNC_DATABASE_URL": database_url, "ZENSYNC_DATA_DIR": str(tmp_path),
                        "DAGSTER_HOME": str(home)}.items():
        monkeypatch.setenv(name, value)

    def cli(*args):
        result = CliRunner().invoke(main, ["tenants", *args], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return result.output

    def partitions():
        with DagsterInstance.from_config(str(home)) as instance:
            return set(instance.get_dynamic_partitions(TENANT_PARTITIONS))

    first = cli("add", "t1", "--stripe-account", "acct_1PartOne")
    assert "tenant partitions: added default, t1, deleted none" in first and "reload" in first
    assert partitions() == {"default", "t1"}
    second = cli("add", "t2", "--stripe-account", "acct_1PartTwo", "--disabled")
    assert partitions() == {"default", "t1", "t2"} and "reload" not in second  # a disabled tenant has one too
    with DagsterInstance.from_config(str(home)) as instance:  # drift, e.g. deleted by hand: enable heals it
        instance.delete_dynamic_partition(TENANT_PARTITIONS, "t2")
    assert "added t2" in cli("enable", "t2") and partitions() == {"default", "t1", "t2"}
    assert "deleted t1" in cli("remove", "t1") and partitions() == {"default", "t2"}
    last = cli("remove", "t2")
    assert partitions() == {"default"} and "partitioned by month once the code location reloads" in last

    # No instance reachable: the registry changes all the same, with one line saying who heals the partitions.
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "not-a-folder" / "x"))
    (tmp_path / "not-a-folder").write_text("a file where the instance's folder should be")
    result = CliRunner().invoke(main, ["tenants", "add", "t3", "--stripe-account", "acct_1PartThree"])
    assert result.exit_code == 0 and "the zensync_tenant_partitions sensor brings its tenant partitions in line" \
        in result.output and "Traceback" not in result.output


def test_the_code_location_with_a_registered_tenant_is_partitioned_by_tenant_and_whole(tmp_path, monkeypatch):
    """The shipped code location, built as it loads: every job, sensor and check resolves by tenant; set back to
    months, it lists exactly what the checked-in snapshot lists."""
    from zensync_pipelines.definitions import build_definitions
    from zensync_pipelines.store.db import make_engine
    from zensync_pipelines_tests.regenerate import ROOT, SNAPSHOT, definitions_listing as listing

    url = f"sqlite:///{tmp_path / 'catalog.db'}"
    engine = make_engine(url)
    migrate.upgrade(engine)
    TenantStore(engine).add(Tenant("t1", stripe_account="acct_1Location"))
    engine.dispose()
    monkeypatch.setenv("ZENSYNC_DATABASE_URL", url)
    monkeypatch.delenv(PARTITION_BY, raising=False)
    defs = build_definitions()
    assert PARTITIONS_SENSOR in {sensor.name for sensor in defs.sensors}
    graph = defs.resolve_asset_graph()
    copies = [key for key in graph.get_all_asset_keys() if key.path[0] != "catalog" and "inbound" not in key.path]
    assert copies and all(graph.get(key).partitions_def == DynamicPartitionsDefinition(name=TENANT_PARTITIONS)
                          for key in copies)
    assert all(job.name for job in defs.resolve_all_job_defs())  # every job resolves with its partitioned config
    monkeypatch.setenv(PARTITION_BY, "month")
    assert listing(build_definitions()) == (ROOT / SNAPSHOT).read_text()
