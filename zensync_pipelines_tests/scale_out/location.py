"""The code location the scale-out tests' Celery workers load (`zensync worker -m` this module): the customers
catalog with a tenant column, synced to Stripe only, configured from the environment the test hands each worker
(the catalog database, the sandbox's URL, the platform key and the client-side rate limit)."""

import dataclasses
import datetime as dt
import os

from dagster import Definitions, EnvVar
from sqlalchemy import Column, Engine, MetaData, String, Table

from zensync_pipelines.catalogs.customers import SPEC as CUSTOMERS
from zensync_pipelines.dagster_defs.factory import build_catalog_definitions
from zensync_pipelines.dagster_defs.resources import CatalogDatabase
from zensync_pipelines.demo.tables import customers
from zensync_pipelines.systems.stripe import StripeResource

SPEC = dataclasses.replace(CUSTOMERS, table="tenant_customers", tenant_column="tenant_id",
                           systems={"stripe": CUSTOMERS.systems["stripe"]},
                           strategies={k: v for k, v in CUSTOMERS.strategies.items() if k == "stripe"})
RATE_ENV = "SCALE_OUT_STRIPE_RATE"  # the client's per-second limit for each tenant's account


def create_table(engine: Engine, rows_per_tenant: dict[str, int], months: int = 6) -> None:
    """`tenant_customers` (made if missing) with ids 1..n for each tenant, created over the last `months` months."""
    table = Table("tenant_customers", MetaData(), Column("tenant_id", String(50), primary_key=True),
                  *(Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable) for c in customers.c
                    if c.name != "tenant_id"))  # the demo table's own tenant column is this key's first part
    table.metadata.create_all(engine)
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    rows = [{"tenant_id": tenant, "id": i, "name": f"{tenant} customer {i}", "email": f"{i}@{tenant}.example",
             "currency": "usd", "created_at": now - dt.timedelta(days=31 * (i % months)),
             "updated_at": now - dt.timedelta(days=31 * (i % months))}
            for tenant, count in rows_per_tenant.items() for i in range(1, count + 1)]
    with engine.begin() as connection:
        connection.execute(table.insert(), rows)


def build() -> Definitions:
    resources = {"catalog_db": CatalogDatabase(url=os.environ["ZENSYNC_DATABASE_URL"]),
                 "stripe": StripeResource(api_key=EnvVar("STRIPE_API_KEY"), api_base=os.environ["STRIPE_API_BASE"],
                                          rate_limit_per_second=float(os.environ.get(RATE_ENV) or 20),
                                          max_network_retries=2)}
    return Definitions.merge(build_catalog_definitions(SPEC), Definitions(resources=resources))


defs = build() if os.environ.get("ZENSYNC_DATABASE_URL") and os.environ.get("STRIPE_API_BASE") else None
