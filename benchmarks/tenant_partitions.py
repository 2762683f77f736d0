"""What the tenant partitions cost at many tenants: the partitions sensor's tick, and a check's view of every tenant.

    python -m benchmarks.tenant_partitions [--tenants N] [--backend sqlite|postgresql] [--url URL]

N tenants registered and active, a Dagster instance (a temporary folder's SQLite storage, as `zensync dev` uses)
holding their partitions. Measured (medians, wall-clock on a shared machine):
- the `zensync_tenant_partitions` sensor's evaluation when the instance is in line (its every tick): the registry's
  ids and the instance's partition keys, compared;
- the same tick after one tenant was added (it asks to add one partition);
- what a check adds for a copy partitioned by tenant: keeping the run's tenant's outcome and reading every
  tenant's last outcome with their statuses (store/check_results.py, tenant_checks.py), with every tenant's
  outcome stored;
- Dagster listing the asset's partition keys (what the UI's partition view and a backfill dialog load).
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import tempfile
import time
from typing import Any, Callable

from dagster import DagsterInstance, Definitions, DynamicPartitionsDefinition, build_sensor_context
from sqlalchemy import text
from sqlalchemy.engine import make_url

from zensync_pipelines.dagster_defs.resources import CatalogDatabase
from zensync_pipelines.dagster_defs.scope import TENANT_PARTITIONS
from zensync_pipelines.dagster_defs.tenant_partitions import build_partitions_sensor, wanted_keys
from zensync_pipelines.store import check_results, migrate
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.tables import tenants
from zensync_pipelines.store.tenants import Tenant, TenantStore


def median_ms(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def prepare(url: str, count: int) -> Any:
    engine = make_engine(url)
    migrate.upgrade(engine)
    with engine.begin() as connection:
        connection.execute(tenants.delete())
        connection.execute(text("DELETE FROM zensync_state WHERE scope = 'checks'"))
        now = datetime.datetime(2026, 12, 7, tzinfo=datetime.timezone.utc)
        connection.execute(tenants.insert(), [{"id": f"t{i}", "status": "active", "created_at": now,
                                               "updated_at": now} for i in range(1, count + 1)])
    for i in range(1, count + 1):
        check_results.keep(engine, f"t{i}", "customers", "stripe", "parity", i % 10 != 0, "3 rows, 0 missing")
    return engine


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tenants", type=int, default=1000)
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--url", help="PostgreSQL URL (default ZENSYNC_TEST_POSTGRES_URL's server)")
    args = parser.parse_args()
    schema = f"bench_tenant_partitions_{int(time.time())}"
    admin = None
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.db"
        if args.backend == "postgresql":  # a schema of its own, dropped afterwards: the server's tables untouched
            admin = make_engine(args.url or os.environ.get("ZENSYNC_TEST_POSTGRES_URL")
                                or "postgresql+psycopg2://postgres@127.0.0.1:5432/test")
            with admin.connect() as connection:
                connection.execution_options(isolation_level="AUTOCOMMIT").execute(text(f"CREATE SCHEMA {schema}"))
            url = admin.url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
                hide_password=False)
        try:
            measure(url, folder, args.tenants)
        finally:
            if admin is not None:
                with admin.connect() as connection:
                    connection.execution_options(isolation_level="AUTOCOMMIT").execute(
                        text(f"DROP SCHEMA {schema} CASCADE"))


def measure(url: str, folder: str, count: int) -> None:
    engine = prepare(url, count)
    defs = Definitions(sensors=[build_partitions_sensor()], resources={"catalog_db": CatalogDatabase(url=url)})
    sensor = defs.resolve_sensor_def("zensync_tenant_partitions")
    with DagsterInstance.local_temp(tempdir=folder) as instance:
        instance.add_dynamic_partitions(TENANT_PARTITIONS, wanted_keys(engine))

        def tick() -> Any:
            return sensor.evaluate_tick(build_sensor_context(instance=instance, definitions=defs))

        tick()  # builds the tick's database resource once, as the code server does
        in_line = median_ms(tick, 20)
        TenantStore(engine).add(Tenant("newcomer"))
        drifted = median_ms(lambda: tick().dynamic_partitions_requests, 10)

        def check_view() -> None:
            check_results.keep(engine, "t1", "customers", "stripe", "parity", True, "3 rows, 0 missing")
            check_results.every_tenant(engine, "customers", "stripe", "parity")

        view = median_ms(check_view, 20)
        partitions = DynamicPartitionsDefinition(name=TENANT_PARTITIONS)
        listing = median_ms(lambda: partitions.get_partition_keys(dynamic_partitions_store=instance), 20)
    backend = make_url(url).get_backend_name()
    print(f"{count} tenants, registry on {backend}, instance on SQLite")
    print(f"partitions sensor tick, in line:          {in_line:8.2f} ms")
    print(f"partitions sensor tick, one to add:       {drifted:8.2f} ms")
    print(f"a check's view of every tenant:           {view:8.2f} ms")
    print(f"Dagster lists the asset's partition keys: {listing:8.2f} ms")
    engine.dispose()


if __name__ == "__main__":
    main()
