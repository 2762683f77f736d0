"""The change sensor of a catalog with a tenant column, evaluated by Dagster on SQLite and PostgreSQL: one tick for
every tenant, a run per (active tenant with changes, system) with the tenant's tags, disabled and unregistered
tenants skipped, a busy copy holding back only its own tenant, and one window query per tick at any number of
tenants. The retry and inbox sensors of such a catalog likewise ask for a run per tenant."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
from dagster import DagsterInstance, DagsterRunStatus, Definitions, build_sensor_context
from sqlalchemy import Column, MetaData, String, Table, event, update

from zensync_pipelines.catalogs.customers import SPEC as CUSTOMERS
from zensync_pipelines.dagster_defs.factory import build_catalog_definitions, job_name
from zensync_pipelines.dagster_defs.resources import CatalogDatabase
from zensync_pipelines.dagster_defs.scope import CHANGED_SINCE_TAG, COPY_TAG, IDS_TAG, SCOPE_TAG, TENANT_TAG
from zensync_pipelines.dagster_defs.settings import AutomationSettings
from zensync_pipelines.dagster_defs.tenant_systems import LANE_TAG
from zensync_pipelines.demo.tables import customers
from zensync_pipelines.store.changes import decode
from zensync_pipelines.store.inbox import InboxStore, NewInboundEvent
from zensync_pipelines.store.state import API_USAGE, StateStore
from zensync_pipelines.store.tables import mappings
from zensync_pipelines.store.tenant_fields import Tenant
from zensync_pipelines.store.tenants import TenantStore
from zensync_pipelines.systems.stripe import StripeResource

SPEC = dataclasses.replace(CUSTOMERS, table="tenant_customers", tenant_column="tenant_id",
                           systems={"stripe": CUSTOMERS.systems["stripe"]})
SENSOR = "customers_changes"
JOB = job_name(SPEC, "stripe")
SETTINGS = AutomationSettings(sensor_overlap_seconds=300)
LONG_AGO = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) - dt.timedelta(days=1)
# t1, t2 active; t3 disabled; tx never registered; both t1 and t2 have a customer 1 and 2.
ROWS = {"t1": [1, 2, 3], "t2": [1, 2], "t3": [1], "tx": [1]}


class World:
    def __init__(self, engine, database_url: str, home: str, spec=SPEC):
        self.engine = engine
        self.table = Table("tenant_customers", MetaData(), Column("tenant_id", String(50), primary_key=True),
                           *(Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable)
                             for c in customers.c if c.name != "tenant_id"))
        self.table.metadata.create_all(engine)
        with engine.begin() as connection:
            connection.execute(self.table.insert(), [self.row(t, i) for t, ids in ROWS.items() for i in ids])
        store = TenantStore(engine)
        for n, tenant in enumerate(["t1", "t2", "t3"]):
            store.add(Tenant(tenant, stripe_account=f"acct_{tenant}{n}"))
        store.disable("t3")
        resources = {"catalog_db": CatalogDatabase(url=database_url),
                     "stripe": StripeResource(api_key="sk_test_unused", api_base="http://127.0.0.1:9")}
        self.defs = Definitions.merge(build_catalog_definitions(spec, SETTINGS), Definitions(resources=resources))
        self.resources = resources
        self.instance = DagsterInstance.local_temp(tempdir=home)

    @staticmethod
    def row(tenant: str, i: int) -> dict:
        return {"tenant_id": tenant, "id": i, "name": f"{tenant} customer {i}", "email": f"{i}@{tenant}.example",
                "currency": "usd", "created_at": LONG_AGO, "updated_at": LONG_AGO + dt.timedelta(seconds=i)}

    def tick(self, cursor=None):
        return self.tick_sensor(SENSOR, cursor)

    def tick_sensor(self, name: str, cursor=None):
        context = build_sensor_context(instance=self.instance, cursor=cursor, resources=self.resources,
                                       definitions=self.defs)
        return self.defs.resolve_sensor_def(name).evaluate_tick(context)

    def touch(self, tenant: str, i: int) -> None:
        with self.engine.begin() as connection:
            connection.execute(update(self.table).where(self.table.c.tenant_id == tenant, self.table.c.id == i)
                               .values(name="changed", updated_at=dt.datetime.now(dt.timezone.utc)))

    def start_run(self, tags: dict):
        return self.instance.create_run_for_job(self.defs.resolve_job_def(JOB), tags=tags,
                                                status=DagsterRunStatus.STARTED)


@pytest.fixture
def world(engine, database_url, tmp_path):
    return World(engine, database_url, str(tmp_path))


def by_tenant(result) -> dict:
    return {r.tags.get(TENANT_TAG): r for r in result.run_requests}


def test_each_active_tenant_gets_its_own_run_with_its_tags_and_the_others_none(world, capfd):
    first = world.tick()
    runs = by_tenant(first)
    # The first tick: every active tenant with rows gets a run over all its rows; t3 (disabled) and tx none.
    assert set(runs) == {"t1", "t2"}
    for tenant, run in runs.items():
        assert run.job_name == JOB and run.tags[SCOPE_TAG] == "changes" and CHANGED_SINCE_TAG not in run.tags
        assert run.tags[COPY_TAG] == f"{tenant}:customers.stripe" and run.tags[LANE_TAG] == f"{tenant}:stripe"
    assert runs["t1"].run_key != runs["t2"].run_key
    [seen] = first.asset_events  # the catalog asset's counts: every tenant's rows
    assert seen.asset_key.path == ["catalog", "customers"] and seen.metadata["rows"].value == 7

    idle = world.tick(first.cursor)
    assert not idle.run_requests and (idle.cursor or first.cursor) == first.cursor

    world.touch("t1", 1)  # both tenants' customer 1 changes
    world.touch("t2", 1)
    world.touch("t3", 1)  # disabled
    world.touch("tx", 1)  # never registered
    moved = world.tick(first.cursor)
    runs = by_tenant(moved)
    assert set(runs) == {"t1", "t2"}
    floor = json.loads(json.loads(first.cursor)["window"])
    for run in runs.values():
        assert decode(run.tags[CHANGED_SINCE_TAG]) == decode(floor["floor"])
    # A tick repeated after a crash asks for the same runs, which Dagster drops.
    assert {r.run_key for r in world.tick(first.cursor).run_requests} == {r.run_key for r in runs.values()}

    world.touch("t2", 2)  # only t2: one run, t2's
    only = world.tick(moved.cursor)
    assert list(by_tenant(only)) == ["t2"]

    world.touch("t3", 1)  # a disabled tenant's change alone: no run, a log line, and the cursor moves on
    capfd.readouterr()
    skipped = world.tick(only.cursor)
    assert "rows of tenant 't3' changed, but it is disabled: no run" in capfd.readouterr().err
    assert not skipped.run_requests and skipped.cursor != only.cursor
    assert not world.tick(skipped.cursor).run_requests

    # t3 enabled and tx registered: each gets a run over all its rows, which the sensor skipped or never synced.
    TenantStore(world.engine).enable("t3")
    TenantStore(world.engine).add(Tenant("tx", stripe_account="acct_tx9"))
    enabled = world.tick(skipped.cursor)
    runs = by_tenant(enabled)
    assert set(runs) == {"t3", "tx"} and all(CHANGED_SINCE_TAG not in r.tags for r in runs.values())
    assert not world.tick(enabled.cursor).run_requests
    TenantStore(world.engine).disable("t3")
    disabled = world.tick(enabled.cursor)
    assert not disabled.run_requests and not world.tick(disabled.cursor).run_requests
    TenantStore(world.engine).enable("t3")  # enabled again, no row changed: a new run, under a new key
    [again] = world.tick(disabled.cursor).run_requests
    assert again.tags[TENANT_TAG] == "t3" and again.run_key != runs["t3"].run_key


def test_a_tenants_busy_copy_holds_back_only_its_own_run_then_asks_again(world):
    first = world.tick()
    running = world.start_run(by_tenant(first)["t1"].tags)  # t1's first run is still going
    world.touch("t1", 2)
    world.touch("t2", 2)
    moved = world.tick(first.cursor)
    assert list(by_tenant(moved)) == ["t2"]
    assert not world.tick(moved.cursor).run_requests  # t1 still busy: held, not lost
    world.instance.report_run_canceled(world.instance.get_run_by_id(running.run_id))
    [caught_up] = world.tick(moved.cursor).run_requests
    assert caught_up.tags[TENANT_TAG] == "t1"
    # It reads from the floor of the tick that saw t1's change, though the window has moved on since.
    seen_at = decode(json.loads(json.loads(first.cursor)["window"])["floor"])
    assert decode(caught_up.tags[CHANGED_SINCE_TAG]) == seen_at
    assert not world.tick(world.tick(moved.cursor).cursor).run_requests


def test_an_idle_tick_is_one_query_for_all_tenants(world):
    first = world.tick()
    world.tick(first.cursor)  # warm: the feed reflects the table once
    statements = []
    engine = world.resources["catalog_db"].engine()
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        assert not world.tick(first.cursor).run_requests
        # The window for every tenant, and the registry's one-row aggregate (has a tenant been enabled?).
        assert len(statements) == 2 and "tenant_customers" in statements[0] and "count" in statements[1]
        world.touch("t1", 3)
        world.touch("t2", 1)
        statements.clear()
        assert len(world.tick(first.cursor).run_requests) == 2
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    # A tick with changes: the window (one query for all tenants), the registry's aggregate, one query for the
    # status of the tenants changed, and the catalog asset's counts.
    assert len(statements) == 4 and all("zensync_tenants" in s for s in statements[1:3])
    assert "count" in statements[3] and "tenant_customers" in statements[3]


def fail_transiently(world: World, tenant: str, ids: list[int]) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    with world.engine.begin() as connection:
        connection.execute(mappings.insert(), [
            {"tenant": tenant, "catalog": "customers", "internal_id": str(i), "system": "stripe",
             "object_type": "customer", "status": "failed", "failure_kind": "transient", "attempts": 1,
             "next_retry_at": now - dt.timedelta(seconds=5), "created_at": now, "updated_at": now} for i in ids])


def test_the_retry_sensor_asks_for_a_run_per_tenant_with_its_own_rows_and_budget(world):
    for tenant in ["t1", "t2", "t3", "tx"]:  # t1 and t2 each have a customer 1 due; t3 is disabled, tx unknown
        fail_transiently(world, tenant, [1, 2] if tenant == "t1" else [1])
    sensor = "customers_stripe_retries"
    result = world.tick_sensor(sensor)
    runs = by_tenant(result)
    assert set(runs) == {"t1", "t2"}
    assert runs["t1"].tags[IDS_TAG] == "1,2" and runs["t2"].tags[IDS_TAG] == "1"
    for tenant, run in runs.items():
        assert run.tags[SCOPE_TAG] == "retry" and run.tags[COPY_TAG] == f"{tenant}:customers.stripe"
        assert run.tags[LANE_TAG] == f"{tenant}:stripe"

    world.start_run(runs["t1"].tags | {"dagster/sensor_name": sensor})  # t1's retry is in progress
    StateStore(world.engine, "t2").put("stripe", API_USAGE, {"resumes_at": (
        dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1)).isoformat()})  # t2's budget is spent
    fail_transiently(world, "t1", [3])
    held = world.tick_sensor(sensor)
    assert not held.run_requests and "still queued or running" in held.skip_message
    StateStore(world.engine, "t2").put("stripe", API_USAGE, {})
    assert set(by_tenant(world.tick_sensor(sensor))) == {"t2"}  # t1 waits for its own run only


def test_the_inbox_sensor_asks_for_a_run_per_tenant_with_events_due(world):
    now = dt.datetime.now(dt.timezone.utc)
    for tenant in ["t1", "t2", "t3", "default"]:
        InboxStore(world.engine, tenant).add([NewInboundEvent(
            "stripe", f"evt_{tenant}", "customer.updated", "customers", "customer", "cus_1", now, "{}")])
    sensor = "customers_stripe_inbox"
    first = world.tick_sensor(sensor)
    runs = by_tenant(first)
    assert set(runs) == {"t1", "t2", None}  # the default tenant's run carries no tenant tag, as before tenants
    assert len({r.run_key for r in runs.values()}) == 3
    again = world.tick_sensor(sensor, first.cursor)  # handed to runs a moment ago: nobody is asked again
    assert not again.run_requests
    InboxStore(world.engine, "t2").add([NewInboundEvent(
        "stripe", "evt_t2_2", "customer.updated", "customers", "customer", "cus_2", now, "{}")])
    assert set(by_tenant(world.tick_sensor(sensor, first.cursor))) == {"t2"}

    # t1's inbound run is still going when its next event arrives: t1 waits, t2's new event goes on.
    inbound = world.defs.resolve_job_def("inbound_customers_stripe")
    world.instance.create_run_for_job(inbound, tags={"dagster/sensor_name": sensor, TENANT_TAG: "t1"},
                                      status=DagsterRunStatus.STARTED)
    for tenant in ["t1", "t2"]:
        InboxStore(world.engine, tenant).add([NewInboundEvent(
            "stripe", f"evt_{tenant}_3", "customer.updated", "customers", "customer", "cus_3", now, "{}")])
    assert set(by_tenant(world.tick_sensor(sensor, first.cursor))) == {"t2"}


def test_a_tenants_failed_change_run_is_rerun_for_that_tenant_only(world, monkeypatch):
    from zensync_pipelines.dagster_defs import retries

    monkeypatch.setattr(retries, "retry_delay", lambda depth: dt.timedelta(0))  # no backoff to wait out
    first = world.tick()
    runs = by_tenant(first)
    failed = world.start_run(runs["t1"].tags)
    world.instance.report_run_failed(world.instance.get_run_by_id(failed.run_id))
    finished = world.start_run(runs["t2"].tags)  # t2's newest change run was canceled, not failed: no rerun
    world.instance.report_run_canceled(world.instance.get_run_by_id(finished.run_id))
    [rerun] = world.tick_sensor("customers_stripe_retries").run_requests
    assert rerun.run_key == f"rerun-{failed.run_id}" and rerun.tags[TENANT_TAG] == "t1"
    assert rerun.tags[LANE_TAG] == "t1:stripe" and rerun.tags[retries.RERUN_DEPTH_TAG] == "1"


def test_a_busy_copy_holds_back_that_tenants_run_of_that_system_only(engine, database_url, tmp_path, monkeypatch):
    from zensync_pipelines.dagster_defs.resources import default_resources

    both = dataclasses.replace(CUSTOMERS, table="tenant_customers", tenant_column="tenant_id")
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_unused")  # the resources are built, never called
    world = World(engine, database_url, str(tmp_path), spec=both)
    world.resources = default_resources(catalog_db=CatalogDatabase(url=database_url))
    world.defs = Definitions.merge(build_catalog_definitions(both, SETTINGS), Definitions(resources=world.resources))
    first = world.tick()
    assert {(r.tags[TENANT_TAG], r.tags[LANE_TAG]) for r in first.run_requests} == {
        (t, f"{t}:{s}") for t in ("t1", "t2") for s in ("stripe", "salesforce")}
    stripe_t1 = next(r for r in first.run_requests if r.tags[LANE_TAG] == "t1:stripe")
    world.start_run(stripe_t1.tags)
    world.touch("t1", 1)
    moved = world.tick(first.cursor)
    assert [r.tags[LANE_TAG] for r in moved.run_requests] == ["t1:salesforce"]
    assert [r.job_name for r in moved.run_requests] == [job_name(both, "salesforce")]
