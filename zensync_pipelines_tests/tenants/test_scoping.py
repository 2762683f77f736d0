"""Tenant scoping: two tenants with the same internal ids (each its customer 1) never meet in the catalog, the
mappings, the event log, the inbox, the digests or the idempotency keys, on SQLite and PostgreSQL, through the real
Stripe SDK over HTTP to the sandbox, one connected account per tenant; the default tenant keys and behaves as a
deployment without tenants."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
import stripe
from sqlalchemy import Column, MetaData, String, Table, delete, select, text

from zensync_pipelines.catalogs.customers import SPEC as CUSTOMERS
from zensync_pipelines.dagster_defs.external import missing_ids
from zensync_pipelines.demo.tables import customers
from zensync_pipelines.engine.keys import idempotency_key
from zensync_pipelines.engine.settled import settled_for
from zensync_pipelines.engine.spec import SpecError
from zensync_pipelines.engine.sync import Selection, SyncRun
from zensync_pipelines.engine.types import DELETED, PENDING, SYNCED, Operation
from zensync_pipelines.store import migrate
from zensync_pipelines.store.catalog import CatalogTables
from zensync_pipelines.store.changes import ChangeFeed
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.inbound_apply import InboundTables
from zensync_pipelines.store.inbox import InboxStore, NewInboundEvent
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines.store.operations import OperationsView
from zensync_pipelines.store.tables import row_digests
from zensync_pipelines.systems.stripe.adapter import StripeAdapter

KEY = "sk_test_tenants"
SPEC = dataclasses.replace(CUSTOMERS, table="tenant_customers", tenant_column="tenant_id")
NOW = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
ROWS = {"a": [1, 2, 3], "b": [1, 2]}  # per-tenant id sequences: both have a customer 1 and 2


def _table() -> Table:
    """The demo customers with a tenant column, keyed (tenant, id)."""
    return Table("tenant_customers", MetaData(), Column("tenant_id", String(50), primary_key=True),
                 *(Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable) for c in customers.c
                    if c.name != "tenant_id"))


def _row(tenant: str, i: int) -> dict:
    return {"tenant_id": tenant, "id": i, "name": f"{tenant.upper()} customer {i}", "email": f"{i}@{tenant}.example",
            "currency": "usd", "created_at": NOW, "updated_at": NOW + dt.timedelta(seconds=i)}


@pytest.fixture
def catalog(engine) -> Table:
    table = _table()
    table.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(table.insert(), [_row(t, i) for t, ids in ROWS.items() for i in ids])
    return table


@pytest.fixture
def accounts(stripe_sandbox) -> dict[str, str]:
    platform = stripe.StripeClient(KEY, base_addresses={"api": stripe_sandbox.url}, max_network_retries=0)
    return {tenant: platform.v1.accounts.create({"type": "custom"}).id for tenant in ROWS}


def _adapter(sandbox, account: str, sent: list[str] | None = None) -> StripeAdapter:
    adapter = StripeAdapter(KEY, sandbox.url, rate_limit_per_second=1000, max_network_retries=0,
                            stripe_account=account)
    if sent is not None:  # the idempotency keys of every write, as the adapter got them
        apply = adapter.apply
        adapter.apply = lambda ops: sent.extend(op.idempotency_key for op in ops) or apply(ops)
    return adapter


def _names(sandbox, account: str) -> dict[str, str]:
    client = stripe.StripeClient(KEY, stripe_account=account, base_addresses={"api": sandbox.url})
    return {c.metadata["zenskar_id"]: c.name for c in client.v1.customers.list({"limit": 100}).data}


def _sync(engine, tenant: str, adapter, run_id: str, selection: Selection = Selection()) -> SyncRun:
    run = SyncRun(SPEC, "stripe", CatalogTables(engine, tenant), MappingStore(engine, tenant), adapter, run_id)
    run.run(selection)
    return run


def test_two_tenants_with_the_same_ids_never_meet(engine, catalog, stripe_sandbox, accounts):
    sent: dict[str, list[str]] = {"a": [], "b": []}
    settled = Selection(settled=settled_for(SPEC, "stripe"))
    for tenant in ROWS:
        report = _sync(engine, tenant, _adapter(stripe_sandbox, accounts[tenant], sent[tenant]), f"r-{tenant}",
                       settled).report
        assert (report.created, report.failed) == (len(ROWS[tenant]), 0)

    # Each account holds its own tenant's rows, under the same internal ids.
    assert _names(stripe_sandbox, accounts["a"]) == {str(i): f"A customer {i}" for i in ROWS["a"]}
    assert _names(stripe_sandbox, accounts["b"]) == {str(i): f"B customer {i}" for i in ROWS["b"]}
    a, b = MappingStore(engine, "a"), MappingStore(engine, "b")
    rows_a, rows_b = a.rows("customers", "stripe"), b.rows("customers", "stripe")
    assert [(r["tenant"], r["internal_id"], r["status"]) for r in rows_a] == [("a", str(i), SYNCED) for i in ROWS["a"]]
    assert [(r["tenant"], r["internal_id"], r["status"]) for r in rows_b] == [("b", str(i), SYNCED) for i in ROWS["b"]]
    assert rows_a[0]["external_id"] != rows_b[0]["external_id"]
    assert MappingStore(engine).rows("customers", "stripe") == []  # the default tenant has nothing
    assert {e["tenant"] for e in a.events("customers", "stripe")} == {"a"}
    assert sorted(e["internal_id"] for e in b.events("customers", "stripe")) == ["1", "2"]
    assert OperationsView(engine, "b").summary("customers", "stripe")["counts"]["synced"] == 2
    assert [m["tenant"] for m in OperationsView(engine, "a").story("customers", "1")[0]] == ["a"]
    # Keys: the same row, object and payload shape in two tenants never share an idempotency key.
    assert len(sent["a"]) == 3 and len(sent["b"]) == 2 and not set(sent["a"]) & set(sent["b"])
    # Digests: each tenant's own; an idle rerun of a reads none of its rows and calls nothing.
    with engine.connect() as connection:
        stored = connection.execute(select(row_digests.c.tenant, row_digests.c.internal_id)).all()
    assert sorted(stored) == [("a", "1"), ("a", "2"), ("a", "3"), ("b", "1"), ("b", "2")]
    idle = _sync(engine, "a", _adapter(stripe_sandbox, accounts["a"]), "r-a2", settled).report
    assert (idle.api_calls, idle.skipped, idle.created + idle.updated) == (0, 3, 0)

    # A change of b's customer 1 is b's alone: b's change feed sees it, a's does not, and a's run writes nothing.
    with engine.begin() as connection:
        connection.execute(catalog.update().where(catalog.c.tenant_id == "b", catalog.c.id == 1)
                           .values(name="B renamed", updated_at=NOW + dt.timedelta(hours=1)))
    floor = NOW + dt.timedelta(minutes=30)
    assert [key for _, key in ChangeFeed(CatalogTables(engine, "b")).window(SPEC, floor)] == [1]
    assert ChangeFeed(CatalogTables(engine, "a")).window(SPEC, floor) == []
    assert _sync(engine, "a", _adapter(stripe_sandbox, accounts["a"]), "r-a3", settled).report.updated == 0
    assert _sync(engine, "b", _adapter(stripe_sandbox, accounts["b"]), "r-b2", settled).report.updated == 1
    assert _names(stripe_sandbox, accounts["a"])["1"] == "A customer 1"
    assert _names(stripe_sandbox, accounts["b"])["1"] == "B renamed"


def test_a_reconcile_of_one_tenant_never_takes_another_tenants_rows_for_hard_deleted(engine, catalog,
                                                                                       stripe_sandbox, accounts):
    for tenant in ROWS:
        _sync(engine, tenant, _adapter(stripe_sandbox, accounts[tenant]), f"r-{tenant}")
    # b has no row 3, a has: b's reconcile must not see a's mapping of row 3 as a row b deleted.
    assert list(missing_ids(SPEC, "stripe", CatalogTables(engine, "b"), MappingStore(engine, "b"))) == []
    assert list(missing_ids(SPEC, "stripe", CatalogTables(engine, "a"), MappingStore(engine, "a"))) == []
    with engine.begin() as connection:  # a deletes its customer 2 outright; b's customer 2 stays
        connection.execute(delete(catalog).where(catalog.c.tenant_id == "a", catalog.c.id == 2))
    assert list(missing_ids(SPEC, "stripe", CatalogTables(engine, "b"), MappingStore(engine, "b"))) == []
    gone = list(missing_ids(SPEC, "stripe", CatalogTables(engine, "a"), MappingStore(engine, "a")))
    assert gone == ["2"]
    run = SyncRun(SPEC, "stripe", CatalogTables(engine, "a"), MappingStore(engine, "a"),
                  _adapter(stripe_sandbox, accounts["a"]), "reconcile-a")
    assert run.delete_missing(gone).deleted == 1
    assert sorted(_names(stripe_sandbox, accounts["a"])) == ["1", "3"]
    assert sorted(_names(stripe_sandbox, accounts["b"])) == ["1", "2"]
    assert MappingStore(engine, "a").rows("customers", "stripe", internal_id="2")[0]["status"] == DELETED
    assert MappingStore(engine, "b").rows("customers", "stripe", internal_id="2")[0]["status"] == SYNCED


def test_inbox_and_inbound_writes_stay_with_their_tenant(engine, catalog):
    event = NewInboundEvent(system="stripe", event_id="evt_1", event_type="customer.updated", catalog="customers",
                            object_type="customer", external_id="cus_1", occurred_at=NOW, payload=json.dumps({}))
    assert InboxStore(engine, "a").add([event]) == 1
    assert InboxStore(engine, "b").add([event]) == 1  # the same event id, another tenant: stored apart
    assert InboxStore(engine, "a").add([event]) == 0
    assert [e["tenant"] for e in InboxStore(engine, "b").rows()] == ["b"]
    assert InboxStore(engine).rows() == []
    tables = InboundTables(engine, "b")
    with tables.transaction() as writer:
        created = writer.insert_row(SPEC, {"name": "Imported", "currency": "usd", "created_at": NOW,
                                           "updated_at": NOW})
        writer.update_row(SPEC, "1", {"name": "B edited from Stripe"})
        writer.set_mapping("customers", "stripe", "customer", created, external_id="cus_new", status=SYNCED)
    with engine.connect() as connection:
        names = dict(connection.execute(select(catalog.c.tenant_id, catalog.c.name).where(catalog.c.id == 1)).all())
        owner = connection.execute(select(catalog.c.tenant_id).where(catalog.c.name == "Imported")).scalar()
    assert names == {"a": "A customer 1", "b": "B edited from Stripe"}
    assert owner == "b"
    assert [r["tenant"] for r in MappingStore(engine, "b").rows("customers", "stripe")] == ["b"]
    assert MappingStore(engine, "a").rows("customers", "stripe") == []


def test_a_tenant_column_the_table_lacks_is_a_clear_error(engine, catalog):
    wrong = dataclasses.replace(SPEC, tenant_column="org_id")
    with pytest.raises(SpecError, match="table 'tenant_customers' has no column 'org_id' .the spec's tenant_column"):
        CatalogTables(engine, "a").table(wrong)
    with pytest.raises(SpecError, match="tenant_column"):
        dataclasses.replace(SPEC, tenant_column="id")


def test_without_a_tenant_column_a_store_reads_every_row_as_before(engine, catalog):
    plain = dataclasses.replace(SPEC, tenant_column=None)
    rows = [r for chunk in CatalogTables(engine, "b").iter_chunks(plain, Selection(), 100) for r in chunk]
    assert len(rows) == 5


# Computed with the code of main before tenants (commit 1dd2713): the default tenant's keys must never move, or a
# rerun after an upgrade would send a pending write under a new key and could duplicate it.
GOLDEN = {("create", "abc123", 1): "zensync-dcd26703e444616f7ee7461f66da2b1e0ed6bd22",
          ("delete", "deleted", 3): "zensync-f5e60e143a4dc0fb1f5d9f77e5ac4345ebb913a5"}


def test_the_default_tenants_keys_are_byte_for_byte_todays(engine):
    for (action, material, seq), key in GOLDEN.items():
        assert idempotency_key("customers", "1", "stripe", "customer", action, material, seq) == key
        scoped = idempotency_key("customers", "1", "stripe", "customer", action, material, seq, "t1")
        assert scoped != key and scoped.startswith("zensync-") and len(scoped) == len(key)
    assert MappingStore(engine).key_scope == MappingStore(engine, "default").key_scope == ""
    assert MappingStore(engine, "t1").key_scope == "t1"


def test_an_upgrade_from_0006_keeps_every_row_as_the_default_tenants(database_url):
    engine = make_engine(database_url)
    migrate.upgrade(engine, "0006")
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO zensync_external_mappings (catalog, internal_id, system, object_type, external_id, "
            "fingerprint, status, attempts, created_at, updated_at) VALUES ('customers', '1', 'stripe', 'customer', "
            "'cus_1', 'f1', 'synced', 0, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"))
        connection.execute(text(
            "INSERT INTO zensync_sync_events (run_id, catalog, internal_id, system, object_type, operation, outcome, "
            "attempt, occurred_at) VALUES ('r1', 'customers', '1', 'stripe', 'customer', 'create', 'synced', 1, "
            "CURRENT_TIMESTAMP)"))
    migrate.upgrade(engine)
    assert migrate.current(engine) == migrate.HEAD
    _downgrade(engine, "0006")  # and back: a single-tenant database goes down and up again unharmed
    assert migrate.current(engine) == "0006"
    migrate.upgrade(engine)
    default, other = MappingStore(engine), MappingStore(engine, "t1")
    assert default.load_states("customers", "stripe", ["1"])[("1", "customer")].external_id == "cus_1"
    assert [(r["tenant"], r["internal_id"]) for r in default.rows("customers", "stripe")] == [("default", "1")]
    assert [e["tenant"] for e in default.events("customers", "stripe")] == ["default"]
    assert other.load_states("customers", "stripe", ["1"]) == {}
    # The unique key holds the tenant: t1's customer 1 is a row of its own, and the default one is untouched.
    other.record_intents("r2", [Operation("customers", "stripe", "customer", "1", "create", {}, "f", None, "k")])
    assert other.load_states("customers", "stripe", ["1"])[("1", "customer")].status == PENDING
    assert default.load_states("customers", "stripe", ["1"])[("1", "customer")].status == SYNCED
    engine.dispose()


def _downgrade(engine, revision: str) -> None:
    from alembic import command

    config = migrate.alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, revision)


def test_a_run_tagged_with_a_tenant_syncs_that_tenants_rows_only(database_url, stripe_sandbox, accounts,
                                                                 monkeypatch):
    """The entry point of `zensync sync --tenant` and of Dagster launches: the whole-catalog job, tagged; the
    tenant's rows go to its own connected account (tenants/test_runs.py tests both systems)."""
    from dagster import DagsterInstance

    from zensync_pipelines.dagster_defs.resources import CatalogDatabase
    from zensync_pipelines.dagster_defs.scope import TENANT_TAG, tenant_tags
    from zensync_pipelines.dagster_defs.tenant_systems import lane_tags
    from zensync_pipelines.dagster_defs.whole import build_whole_catalog_job
    from zensync_pipelines.store.tenants import Tenant, TenantStore
    from zensync_pipelines.systems.stripe.resource import StripeResource

    engine = make_engine(database_url)
    migrate.upgrade(engine)
    monkeypatch.setenv("STRIPE_API_KEY", KEY)
    TenantStore(engine).add(Tenant("b", stripe_account=accounts["b"]))
    table = _table()
    table.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(table.insert(), [_row(t, i) for t, ids in ROWS.items() for i in ids])
    resources = {"catalog_db": CatalogDatabase(url=database_url),
                 "stripe": StripeResource(api_key=KEY, api_base=stripe_sandbox.url, rate_limit_per_second=500)}
    job = build_whole_catalog_job(SPEC, "stripe")
    assert tenant_tags("default") == {} and tenant_tags("b") == {TENANT_TAG: "b"}
    with DagsterInstance.ephemeral() as instance:
        result = job.execute_in_process(instance=instance, resources=resources,
                                        tags=tenant_tags("b") | lane_tags("b", "stripe"))
        assert result.success
        assert _names(stripe_sandbox, accounts["b"]) == {"1": "B customer 1", "2": "B customer 2"}
        assert [(r["tenant"], r["internal_id"]) for r in MappingStore(engine, "b").rows("customers", "stripe")] == \
            [("b", "1"), ("b", "2")]
        assert MappingStore(engine, "a").rows("customers", "stripe") == []
        # Untagged: the default tenant, which owns no row of a table with a tenant column.
        assert job.execute_in_process(instance=instance, resources=resources).success
        assert MappingStore(engine).rows("customers", "stripe") == []
        refused = job.execute_in_process(instance=instance, resources=resources, tags={TENANT_TAG: "x" * 101},
                                         raise_on_error=False)
        assert not refused.success
    engine.dispose()


def test_the_operator_commands_take_a_tenant(sqlite_url, monkeypatch, tmp_path):
    from click.testing import CliRunner

    from zensync_pipelines.cli import main

    monkeypatch.setenv("ZENSYNC_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("ZENSYNC_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    engine = make_engine(sqlite_url)
    migrate.upgrade(engine)
    MappingStore(engine, "b").record_intents("run-b", [
        Operation("customers", "stripe", "customer", "1", "create", {}, "f", None, "k")])
    runner = CliRunner()
    mine = runner.invoke(main, ["explain", "customers", "1", "--tenant", "b"])
    assert mine.exit_code == 0, mine.output
    assert "pending" in mine.output
    default = runner.invoke(main, ["explain", "customers", "1"])
    assert default.exit_code == 1 and "never planned" in default.output
    def pending(args: list[str]) -> str:  # the pending count of customers -> stripe in `zensync status`
        result = runner.invoke(main, ["status", *args])
        assert result.exit_code == 0, result.output
        cells = [c.strip() for c in next(line for line in result.output.splitlines()
                                          if "customers" in line and "stripe" in line).split("│")]
        return cells[7]

    assert (pending(["--tenant", "b"]), pending([])) == ("1", "0")
    for command in ("sync", "plan", "retry", "status", "explain"):
        assert "--tenant" in runner.invoke(main, [command, "--help"]).output
    engine.dispose()


def test_child_rows_are_their_tenants_too(engine):
    """With per-tenant ids a line's foreign key alone does not say whose order it belongs to: children are read
    and watched by the same tenant column."""
    from sqlalchemy import DateTime, Integer

    from zensync_pipelines.engine.spec import CatalogSpec, Children, ExternalObject, Field

    md = MetaData()
    orders = Table("tenant_orders", md, Column("tenant_id", String(50), primary_key=True),
                   Column("id", Integer, primary_key=True, autoincrement=False), Column("name", String(50)),
                   Column("created_at", DateTime(timezone=True)), Column("updated_at", DateTime(timezone=True)))
    lines = Table("tenant_order_lines", md, Column("tenant_id", String(50), primary_key=True),
                  Column("id", Integer, primary_key=True, autoincrement=False), Column("order_id", Integer),
                  Column("description", String(50)), Column("updated_at", DateTime(timezone=True)))
    md.create_all(engine)
    with engine.begin() as connection:
        connection.execute(orders.insert(), [{"tenant_id": t, "id": 1, "name": f"{t} order", "created_at": NOW,
                                              "updated_at": NOW} for t in ("a", "b")])
        connection.execute(lines.insert(), [
            {"tenant_id": "a", "id": 1, "order_id": 1, "description": "a line", "updated_at": NOW},
            {"tenant_id": "b", "id": 2, "order_id": 1, "description": "b line",
             "updated_at": NOW + dt.timedelta(hours=1)}])
    spec = CatalogSpec(name="orders", table="tenant_orders", primary_key="id", cursor_column="updated_at",
                       created_at_column="created_at", tenant_column="tenant_id",
                       children=[Children("lines", table="tenant_order_lines", foreign_key="order_id",
                                          cursor_column="updated_at", columns=["description"])],
                       systems={"memory": [ExternalObject("order", [Field("name", "name"),
                                                                    Field("lines", "lines", type="object")])]})
    for tenant in ("a", "b"):
        [[order]] = list(CatalogTables(engine, tenant).iter_chunks(spec, Selection(), 10))
        assert (order["name"], [line["description"] for line in order["lines"]]) == \
            (f"{tenant} order", [f"{tenant} line"])
    floor = NOW + dt.timedelta(minutes=30)
    assert [key for _, key in ChangeFeed(CatalogTables(engine, "b")).window(spec, floor)] == ["lines/2"]
    assert ChangeFeed(CatalogTables(engine, "a")).window(spec, floor) == []
    changed = Selection(changed_since=floor)  # b's line moved: b's order changed, a's did not
    assert [len(c) for c in CatalogTables(engine, "b").iter_chunks(spec, changed, 10)] == [1]
    assert list(CatalogTables(engine, "a").iter_chunks(spec, changed, 10)) == []
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE plain_lines (id INTEGER PRIMARY KEY, order_id INTEGER, "
                                "description VARCHAR(50), updated_at TIMESTAMP)"))
    plain = dataclasses.replace(spec, children=[dataclasses.replace(spec.children[0], table="plain_lines")])
    with pytest.raises(SpecError, match="table 'plain_lines' has no column 'tenant_id' .the spec's tenant_column"):
        list(CatalogTables(engine, "a").iter_chunks(plain, Selection(), 10))
