"""The tenant change sensor's tick: idle at 1,000,000 rows, and noticing 10 changed rows for each of 1,000 tenants.

    python -m benchmarks.tenant_ticks [--rows N] [--tenants N] [--backend sqlite|postgresql] [--url URL]

One table `tenant_customers` (the demo customers with a `tenant_id`, keyed (tenant_id, id), indexed (updated_at,
id) like the demo table), rows last changed a minute apart up to two days ago, spread evenly over the tenants,
every tenant registered and active. Measured: the bare tick (`tenant_sensors.detect`) and the whole Dagster
sensor evaluation (`evaluate_tick` with build_sensor_context, an ephemeral instance), idle; then rounds of
touching 10 rows of every tenant and timing the evaluation that asks for a run per tenant (the registry read, the
one in-flight query for all copies and the run requests included); then idle again with those rows in the
overlap window. Wall-clock on a shared machine: medians.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import statistics
import tempfile
import time
from typing import Any, Callable

from sqlalchemy import Column, Index, MetaData, String, Table, text
from sqlalchemy.engine import make_url

from zensync_pipelines.catalogs.customers import SPEC as CUSTOMERS
from zensync_pipelines.dagster_defs.tenant_sensors import detect
from zensync_pipelines.demo.tables import customers
from zensync_pipelines.store import migrate
from zensync_pipelines.store.catalog import CatalogTables
from zensync_pipelines.store.changes import ChangeFeed
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.tables import tenants

SPEC = dataclasses.replace(CUSTOMERS, table="tenant_customers", tenant_column="tenant_id",
                           systems={"stripe": CUSTOMERS.systems["stripe"]})
OVERLAP = 300.0


def _table() -> Table:
    table = Table("tenant_customers", MetaData(), Column("tenant_id", String(50), primary_key=True),
                  *(Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable) for c in customers.c))
    Index("ix_tenant_customers_updated", table.c.updated_at, table.c.id)
    return table


def _seed(engine: Any, rows: int, tenant_count: int) -> None:
    _table().metadata.create_all(engine)
    per = rows // tenant_count
    # A minute apart, newest two days ago: the first tick's overlap window holds a few rows, not all.
    old = ("now() - interval '2 days' - i * interval '1 minute'" if engine.dialect.name == "postgresql"
           else "datetime('now', '-2 days', '-' || i || ' minutes')")
    series = ("generate_series(0, :n - 1) AS g(i)" if engine.dialect.name == "postgresql"
              else "(WITH RECURSIVE s(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM s WHERE i < :n - 1) "
                   "SELECT i FROM s) AS g")
    with engine.begin() as connection:
        connection.execute(text(
            f"INSERT INTO tenant_customers (tenant_id, id, name, email, currency, created_at, updated_at) "
            f"SELECT 't' || (i % {tenant_count}), i / {tenant_count} + 1, 'customer ' || i, i || '@example.com', "
            f"'usd', {old}, {old} FROM {series}"), {"n": per * tenant_count})
        connection.execute(tenants.insert(), [{"id": f"t{t}", "status": "active", "created_at": dt.datetime.now(
            dt.timezone.utc), "updated_at": dt.datetime.now(dt.timezone.utc)} for t in range(tenant_count)])
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(text("ANALYZE tenant_customers"))


def _timed(call: Callable[[], Any]) -> tuple[float, Any]:
    began = time.perf_counter()
    value = call()
    return (time.perf_counter() - began) * 1000, value


def _touch(engine: Any, tenant_count: int, per_tenant: int, round_no: int) -> None:
    now = "now()" if engine.dialect.name == "postgresql" else "strftime('%Y-%m-%d %H:%M:%f', 'now')"
    with engine.begin() as connection:
        connection.execute(text(f"UPDATE tenant_customers SET updated_at = {now}, name = 'changed {round_no}' "
                                f"WHERE id BETWEEN :a AND :b"), {"a": round_no * per_tenant + 1,
                                                                  "b": (round_no + 1) * per_tenant})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--tenants", type=int, default=1_000)
    parser.add_argument("--changed", type=int, default=10, help="rows changed per tenant and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--backend", default="postgresql")
    parser.add_argument("--url", default="postgresql+psycopg2://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    schema = f"bench_tenant_ticks_{int(time.time())}"
    if args.backend == "postgresql":
        admin = make_engine(args.url)
        with admin.connect() as connection:
            connection.execution_options(isolation_level="AUTOCOMMIT").execute(text(f"CREATE SCHEMA {schema}"))
        url = make_url(args.url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False)
    else:
        url = f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        seconds, _ = _timed(lambda: _seed(engine, args.rows, args.tenants))
        print(f"{args.backend}: seeded {args.rows:,} rows over {args.tenants:,} tenants in {seconds / 1000:.1f} s")
        _measure(engine, url, args)
    finally:
        engine.dispose()
        if args.backend == "postgresql":
            with admin.connect() as connection:
                connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                    text(f"DROP SCHEMA {schema} CASCADE"))


def _measure(engine: Any, url: str, args: argparse.Namespace) -> None:
    from dagster import DagsterInstance, Definitions, build_sensor_context

    from zensync_pipelines.dagster_defs.factory import build_catalog_definitions
    from zensync_pipelines.dagster_defs.resources import CatalogDatabase
    from zensync_pipelines.systems.stripe import StripeResource

    feed = ChangeFeed(CatalogTables(engine))
    cursor, _ = detect(feed, SPEC, None, OVERLAP)
    for _ in range(3):
        detect(feed, SPEC, cursor, OVERLAP)
    bare = [_timed(lambda: detect(feed, SPEC, cursor, OVERLAP))[0] for _ in range(50)]
    print(f"bare idle tick (detect), {args.rows:,} rows: median {statistics.median(bare):.2f} ms")

    resources = {"catalog_db": CatalogDatabase(url=url),
                 "stripe": StripeResource(api_key="sk_test_unused", api_base="http://127.0.0.1:9")}
    defs = Definitions.merge(build_catalog_definitions(SPEC), Definitions(resources=resources))
    sensor = defs.resolve_sensor_def("customers_changes")
    with DagsterInstance.ephemeral() as instance:
        def tick(text_cursor: Any) -> Any:
            # The resources are left to the definitions, as the code server's ticks do (tick_database).
            return sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=text_cursor, definitions=defs))
        ms, first = _timed(lambda: tick(None))
        print(f"first tick: {len(first.run_requests):,} runs in {ms:.0f} ms")
        state = first.cursor
        for _ in range(3):
            tick(state)
        idle = [_timed(lambda: tick(state))[0] for _ in range(20)]
        print(f"whole sensor evaluation, idle, {args.rows:,} rows: median {statistics.median(idle):.2f} ms")
        changed = []
        for round_no in range(args.rounds):
            _touch(engine, args.tenants, args.changed, round_no)
            ms, result = _timed(lambda: tick(state))
            assert len(result.run_requests) == args.tenants, len(result.run_requests)
            changed.append(ms)
            state = result.cursor
        print(f"whole sensor evaluation noticing {args.changed} rows of each of {args.tenants:,} tenants "
              f"({args.tenants:,} runs): median {statistics.median(changed):.0f} ms ({[round(c) for c in changed]})")
        after = [_timed(lambda: tick(state))[0] for _ in range(10)]
        print(f"whole sensor evaluation, idle with {args.tenants * args.changed:,} changed rows in the window: "
              f"median {statistics.median(after):.1f} ms; cursor {len(state):,} characters")


if __name__ == "__main__":
    main()
