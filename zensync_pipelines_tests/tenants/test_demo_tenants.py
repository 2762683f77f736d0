"""The demo tables' tenant_id: a demo database made before tenants gets it with every row the default tenant's, and
a tenant's seeded rows are its own, in its own id range."""

import datetime as dt

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table, inspect, select

from zensync_pipelines.catalogs import load_specs
from zensync_pipelines.demo.seed import TENANT_IDS, seed_customers
from zensync_pipelines.demo.tables import add_tenant_column, customers
from zensync_pipelines.engine.sync import Selection
from zensync_pipelines.store.catalog import CatalogTables

NOW = dt.datetime(2025, 6, 1, tzinfo=dt.timezone.utc)


def test_every_shipped_spec_declares_the_demo_tenant_column():
    assert {spec.name: spec.tenant_column for spec in load_specs()} == {
        "customers": "tenant_id", "invoices": "tenant_id", "plans": "tenant_id", "subscriptions": "tenant_id",
        "payments": "tenant_id"}


def test_a_demo_database_made_before_tenants_gets_the_column_and_keeps_its_rows_the_default_tenants(engine):
    old = Table("customers", MetaData(), Column("id", Integer, primary_key=True, autoincrement=False),
                Column("name", String(400)), Column("created_at", DateTime(timezone=True), nullable=False),
                Column("updated_at", DateTime(timezone=True), nullable=False))
    old.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(old.insert(), [{"id": 1, "name": "Ada", "created_at": NOW, "updated_at": NOW}])
    assert add_tenant_column(engine) == ["customers"]
    assert add_tenant_column(engine) == []  # once only
    assert "tenant_id" in {c["name"] for c in inspect(engine).get_columns("customers")}
    with engine.begin() as connection:
        assert connection.execute(select(customers.c.tenant_id)).scalars().all() == ["default"]
        # A user's insert that names no tenant stays the default tenant's.
        connection.execute(old.insert(), [{"id": 2, "name": "Grace", "created_at": NOW, "updated_at": NOW}])
        assert connection.execute(select(customers.c.tenant_id).where(customers.c.id == 2)).scalar() == "default"


def test_each_tenants_demo_rows_are_its_own(engine):
    assert seed_customers(engine, 3) == 3
    assert seed_customers(engine, 3, seed=43, tenant="t1", first_id=TENANT_IDS + 1) == 3
    assert seed_customers(engine, 3, seed=43, tenant="t1", first_id=TENANT_IDS + 1) == 0  # missing ones only
    [spec] = [s for s in load_specs() if s.name == "customers"]

    def ids(tenant: str) -> list[int]:
        chunks = CatalogTables(engine, tenant).iter_chunks(spec, Selection(), 100)
        return [row["id"] for chunk in chunks for row in chunk]

    assert ids("default") == [1, 2, 3]
    assert ids("t1") == [TENANT_IDS + 1, TENANT_IDS + 2, TENANT_IDS + 3]
    assert ids("t2") == []
