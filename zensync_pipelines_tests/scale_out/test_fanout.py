"""The fan-out job in process (SQLite and PostgreSQL): one step per tenant, or per tenant and range of months, each
reporting its own counts; a tenant that cannot run fails its own step only; the run's step values are forgotten at
its end. tests with Celery workers: test_celery_workers.py."""

import dataclasses

import pytest
import stripe
from dagster import DagsterInstance, Definitions
from sqlalchemy import func, select, text

from zensync_pipelines.dagster_defs.factory import build_catalog_definitions
from zensync_pipelines.dagster_defs.fanout import fanout_job_name, mapping_key, month_ranges
from zensync_pipelines.dagster_defs.resources import CatalogDatabase
from zensync_pipelines.dagster_defs.step_values import SCOPE
from zensync_pipelines.store.catalog import CatalogTables
from zensync_pipelines.store.copy_lock import LOCK_CLASS, LOCK_KEY_SQL, copy_lock
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines.store.tables import state
from zensync_pipelines.store.tenants import Tenant, TenantStore
from zensync_pipelines.systems.stripe import StripeResource
from zensync_pipelines_tests.scale_out.location import SPEC, create_table

KEY = "sk_test_fanout_platform"
ROWS = {"t1": 7, "t2": 5, "t-3": 4}  # a tenant id with a character a step key cannot hold


@pytest.fixture
def world(engine, database_url, stripe_sandbox, monkeypatch):
    monkeypatch.setenv("STRIPE_API_KEY", KEY)  # Connect: each tenant's calls use the platform's key
    create_table(engine, ROWS)
    platform = stripe.StripeClient(KEY, base_addresses={"api": stripe_sandbox.url})
    accounts = {t: platform.v1.accounts.create({"type": "custom"}).id for t in ROWS}
    for tenant, account in accounts.items():
        TenantStore(engine).add(Tenant(tenant, stripe_account=account))
    resources = {"catalog_db": CatalogDatabase(url=database_url),
                 "stripe": StripeResource(api_key=KEY, api_base=stripe_sandbox.url, rate_limit_per_second=200,
                                          max_network_retries=0)}
    defs = Definitions.merge(build_catalog_definitions(SPEC), Definitions(resources=resources))
    with DagsterInstance.ephemeral() as instance:
        yield dataclasses.make_dataclass("W", ["engine", "defs", "instance", "accounts", "url"])(
            engine, defs, instance, accounts, stripe_sandbox.url)


def _run(world, **config):
    job = world.defs.resolve_job_def(fanout_job_name(SPEC, "stripe"))
    return job.execute_in_process(instance=world.instance, raise_on_error=False, run_config={
        "ops": {"stripe__customers__units": {"config": config}}})


def _names(world, tenant):
    client = stripe.StripeClient(KEY, stripe_account=world.accounts[tenant], base_addresses={"api": world.url})
    return sorted(c.metadata["zenskar_id"] for c in client.v1.customers.list({"limit": 100}).data)


def _step_values(world) -> int:
    with world.engine.connect() as connection:
        return connection.execute(select(func.count()).where(state.c.scope == SCOPE)).scalar_one()


def _unit_steps(result):
    return sorted(e.step_key for e in result.all_events if e.is_step_success and "__unit[" in e.step_key)


def test_one_step_per_tenant_each_reporting_its_own_counts(world):
    result = _run(world)
    assert result.success
    assert _unit_steps(result) == sorted(f"stripe__customers__unit[{mapping_key(t, None)}]" for t in ROWS)
    for tenant, count in ROWS.items():
        assert _names(world, tenant) == sorted(str(i) for i in range(1, count + 1))
        assert len(MappingStore(world.engine, tenant).rows("customers", "stripe")) == count
    per_tenant = {m.metadata["tenant"].value: m.metadata["created"].value
                  for m in (e.materialization for e in result.get_asset_materialization_events())
                  if "tenant" in m.metadata}
    assert per_tenant == ROWS
    totals = result.output_for_node("stripe__customers__totals")
    assert totals is None
    [totals_event] = [e for e in result.all_events if e.is_successful_output and
                      e.step_key == "stripe__customers__totals"]
    metadata = totals_event.event_specific_data.metadata
    assert metadata["created"].value == sum(ROWS.values()) and metadata["steps"].value == 3
    assert _step_values(world) == 0  # forgotten by the last step


def test_months_split_each_tenant_and_every_row_lands_once(world):
    oldest, newest = CatalogTables(world.engine, "t1").created_range(SPEC)
    ranges = month_ranges(SPEC, 2, oldest, newest)
    assert len(ranges) == 3  # t1's rows span 6 months
    assert ranges[0][0] is None and ranges[-1][1] is None
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))  # contiguous: no month left out or read twice
    result = _run(world, tenants=["t1"], months_per_step=2)
    assert result.success
    assert len(_unit_steps(result)) == len(ranges)
    assert _names(world, "t1") == sorted(str(i) for i in range(1, 8))
    assert _names(world, "t2") == []  # not chosen
    created = sum(m.metadata["created"].value for m in (e.materialization for e in
                  result.get_asset_materialization_events()) if "tenant" in m.metadata)
    assert created == 7


def test_a_tenant_that_cannot_run_fails_its_own_step_only(world):
    TenantStore(world.engine).disable("t2")
    result = _run(world, tenants=["t1", "t2"])
    assert not result.success
    failed = [e for e in result.all_events if e.is_step_failure]
    assert [e.step_key for e in failed] == [f"stripe__customers__unit[{mapping_key('t2', None)}]"]
    assert "tenant t2 is disabled" in failed[0].step_failure_data.error.message
    assert _names(world, "t1") == sorted(str(i) for i in range(1, 8)) and _names(world, "t2") == []
    assert _step_values(world) == 3  # two units and t1's counts: a failed run keeps them for a re-execution


def test_mapping_keys_are_safe_and_distinct():
    assert mapping_key("t1", None) == "t1" and mapping_key("t1", "2026-01-01") == "t1_202601"
    odd = mapping_key("t-3", None)
    assert odd.startswith("t_3_") and odd != mapping_key("t_3", None) != mapping_key("t--3", None)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)  # the lock is PostgreSQL's (copy_lock.py)
def test_a_step_waits_for_another_sync_of_its_copy(world, database_url):
    """A tenant's fan-out step and its own sensor run are two runs to the queue but one copy: on PostgreSQL the
    step waits on the copy's lock (held here as another run's sync would) and syncs once it is free."""
    import threading
    import time

    waited = threading.Event()
    with copy_lock(world.engine, "t1", "customers", "stripe"):
        outcome = {}
        runner = threading.Thread(target=lambda: outcome.update(result=_run(world, tenants=["t1"])))
        runner.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not waited.is_set():
            with world.engine.connect() as connection:  # the step's lock request, waiting in pg_locks
                if connection.execute(text(
                        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted AND classid = "
                        f":cls AND objid::bigint = ({LOCK_KEY_SQL}::bigint & 4294967295) AND pid <> pg_backend_pid()"),
                        {"cls": LOCK_CLASS, "key": "t1:customers.stripe"}).scalar():
                    waited.set()
            time.sleep(0.1)
        assert waited.is_set()
        assert _names(world, "t1") == []  # nothing written while the other sync holds the copy
    runner.join(timeout=120)
    assert outcome["result"].success
    assert _names(world, "t1") == sorted(str(i) for i in range(1, 8))
    logs = "\n".join(str(r) for r in world.instance.all_logs(outcome["result"].run_id))
    assert "waiting for another sync of this copy to end" in logs


def _value_runs(world) -> set[str]:
    with world.engine.connect() as connection:
        return {k.split("/")[0] for k in connection.execute(select(state.c.key).where(state.c.scope == SCOPE))
                .scalars()}


def test_step_values_of_runs_that_need_them_no_more_are_swept(world, monkeypatch):
    import datetime as dt

    from dagster import DagsterRunStatus

    from zensync_pipelines.dagster_defs.step_values import sweep
    from zensync_pipelines.store.state import StateStore

    TenantStore(world.engine).disable("t2")
    failed = _run(world, tenants=["t1", "t2"])
    assert not failed.success and _value_runs(world) == {failed.run_id}
    # Values of a run the instance no longer has (deleted), and of one still in progress, both weeks old.
    states, weeks_ago = StateStore(world.engine), dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=30)
    running = world.instance.create_run_for_job(world.defs.resolve_job_def(fanout_job_name(SPEC, "stripe")),
                                                status=DagsterRunStatus.STARTED)
    for run_id in ("gone-run", running.run_id):
        states.put(SCOPE, f"{run_id}/stripe__customers__units/result/t1", {"tenant": "t1"})
    with world.engine.begin() as connection:
        connection.execute(state.update().where(state.c.scope == SCOPE, ~state.c.key.startswith(failed.run_id))
                           .values(updated_at=weeks_ago))
    # The next fan-out run's first step sweeps the deleted run's; the failed run's are fresh: kept for a
    # re-execution; the running one's whatever their age. Its own are forgotten at its end.
    assert _run(world, tenants=["t1"]).success
    assert _value_runs(world) == {failed.run_id, running.run_id}
    # Past ZENSYNC_STEP_VALUES_KEEP_DAYS the failed run's go too.
    monkeypatch.setenv("ZENSYNC_STEP_VALUES_KEEP_DAYS", "0")
    swept = _run(world, tenants=["t1"])
    assert swept.success and _value_runs(world) == {running.run_id}
    assert "forgot the step values of 1 ended run(s): " + failed.run_id in "\n".join(
        str(r.user_message) for r in world.instance.all_logs(swept.run_id))
    # Once the running run has ended, it is a failed run like the others.
    world.instance.report_run_failed(running)
    assert sweep(world.engine, lambda r: world.instance.get_run_by_id(r).status, dt.timedelta(0)) == [running.run_id]
    assert _value_runs(world) == set()


def test_a_bad_keep_setting_fails_the_run_in_one_line(world, monkeypatch):
    monkeypatch.setenv("ZENSYNC_STEP_VALUES_KEEP_DAYS", "a week")
    result = _run(world, tenants=["t1"])
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert failure.step_failure_data.error.message.strip().endswith(
        "ZENSYNC_STEP_VALUES_KEEP_DAYS='a week' is not a number of days")
    assert _names(world, "t1") == []


def test_with_the_lease_lock_a_step_waits_for_another_sync_of_its_copy(world, monkeypatch):
    """ZENSYNC_COPY_LOCK=lease (behind PgBouncer in transaction mode; any database): the same wait as the
    advisory lock's, on the copy's lease row, held here as another run's sync would."""
    import threading
    import time

    from zensync_pipelines.store.copy_lease import copy_lease

    monkeypatch.setenv("ZENSYNC_COPY_LOCK", "lease")
    with copy_lease(world.engine, "t1", "customers", "stripe"):
        outcome = {}
        runner = threading.Thread(target=lambda: outcome.update(result=_run(world, tenants=["t1"])))
        runner.start()
        deadline, logs = time.monotonic() + 60, ""
        while "waiting for another sync of this copy to end" not in logs:
            assert time.monotonic() < deadline and runner.is_alive()
            time.sleep(0.1)
            logs = "\n".join(str(r.user_message) for run in world.instance.get_runs()
                             for r in world.instance.all_logs(run.run_id))
        assert _names(world, "t1") == []  # nothing written while the other sync holds the copy
    runner.join(timeout=120)
    assert outcome["result"].success
    assert _names(world, "t1") == sorted(str(i) for i in range(1, 8))


def test_a_reexecution_from_failure_reads_the_failed_runs_values_and_forgets_them_at_its_end(world, database_url,
                                                                                            monkeypatch, tmp_path):
    """Dagster's re-execution from failure runs the failed step again and reads the steps that had succeeded
    from the failed run's values; its last step forgets both runs' values."""
    import importlib

    from dagster import ReexecutionOptions, execute_job
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    from zensync_pipelines_tests.scale_out import location

    monkeypatch.setenv("ZENSYNC_DATABASE_URL", database_url)  # the reconstructed location's own catalog_db
    monkeypatch.setenv("STRIPE_API_BASE", world.url)
    monkeypatch.setenv("ZENSYNC_EXECUTOR", "in_process")
    importlib.reload(location)
    job = ReconstructableRepository.for_module(location.__name__, "defs").get_reconstructable_job(
        fanout_job_name(SPEC, "stripe"))
    # Dagster keeps the last job it reconstructed in this process, equal to this one in all but the environment
    # it was built from (the other database's test).
    for cached in (type(job).get_repository_definition, type(job).get_definition):
        cached.cache_clear()
    TenantStore(world.engine).disable("t2")
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        config = {"ops": {"stripe__customers__units": {"config": {"tenants": ["t1", "t2"]}}}}
        with execute_job(job, instance, run_config=config, raise_on_error=False) as failed:
            assert not failed.success
        assert _value_runs(world) == {failed.run_id}
        TenantStore(world.engine).enable("t2")
        with execute_job(job, instance, reexecution_options=ReexecutionOptions.from_failure(
                failed.run_id, instance)) as again:
            assert again.success
            assert _unit_steps(again) == [f"stripe__customers__unit[{mapping_key('t2', None)}]"]  # t2's only
    assert _value_runs(world) == set()
    assert _names(world, "t2") == sorted(str(i) for i in range(1, 6))
