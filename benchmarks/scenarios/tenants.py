"""Tenants: what the tenant dimension costs a single-tenant deployment, and many tenants synced by the sensor.

Part 1 (cost, issue 25's <= 1.1x): the shipped customers spec, which names `tenant_column`, with no tenant
registered, against the same spec without `tenant_column` (the behaviour before tenants), on the same catalog:
(a) an idle change-sensor tick (the whole Dagster sensor evaluation) and (b) a sync of the catalog's rows to the
Stripe sandbox (the engine's sync(), one fresh catalog and sandbox per run). A and B are measured in interleaved
rounds so the shared machine's load hits both alike; the ratio is the median of A over the median of B.

Part 2 (many tenants): T tenants registered, each on its own connected account of the Stripe sandbox, each with
the same customer ids 1..R. The change sensor's first tick asks for a run per tenant; the requested runs' jobs are
executed in this process one after another with the requests' tags (a daemon would launch them side by side; on
the 2-core shared machine in-process keeps the figures about zensync). Asserted: one run per tenant, every
tenant's rows exactly once in its own account (listed per connected account) and in its mappings, the platform's
account empty, and the next tick asks for nothing. Each tenant's share of its own rate limit is its account's
requests over what the account's bucket admits from its first to its last request.

Sizes: ZENSYNC_BENCH_TENANT_ROWS (part 1 rows, default 10,000), ZENSYNC_BENCH_TENANTS (default 200) and
ZENSYNC_BENCH_TENANT_CUSTOMERS (default 100 per tenant); smoke: 500 rows, 3 tenants x 10.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import statistics
import threading
import time
import uuid
from collections import defaultdict
from typing import Any, Callable

import stripe
from dagster import DagsterInstance, Definitions, build_sensor_context
from sqlalchemy import Column, MetaData, String, Table

from benchmarks.common import Context, Result
from benchmarks.scenarios.stripe import CountingSandbox
from zensync_pipelines.catalogs.customers import SPEC as CUSTOMERS
from zensync_pipelines.dagster_defs.factory import build_catalog_definitions
from zensync_pipelines.dagster_defs.resources import CatalogDatabase
from zensync_pipelines.dagster_defs.tenant_systems import LANE_TAG
from zensync_pipelines.demo.seed import seed_customers
from zensync_pipelines.demo.tables import customers
from zensync_pipelines.engine.sync import sync
from zensync_pipelines.sandbox.core import Request, Response
from zensync_pipelines.store import migrate
from zensync_pipelines.store.catalog import CatalogTables
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines.store.tenants import Tenant, TenantStore
from zensync_pipelines.systems.stripe import StripeAdapter, StripeResource

NAME = "tenants"
TITLE = "Tenants: the tenant dimension's cost without tenants, and many tenants synced by the change sensor"
KEY = "sk_test_bench_tenants"
WITH = dataclasses.replace(CUSTOMERS, systems={"stripe": CUSTOMERS.systems["stripe"]})  # shipped: tenant_column
WITHOUT = dataclasses.replace(WITH, tenant_column=None)  # before tenants
TENANT_LIMIT = 100  # each connected account's limit (sandbox) = the resource's per-lane limit
NOW = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)


def _env(name: str, full: int, smoke: int, ctx: Context) -> int:
    return int(os.environ.get(name, ctx.size(full, smoke)))


def _ms(call: Callable[[], Any]) -> float:
    began = time.perf_counter()
    call()
    return (time.perf_counter() - began) * 1000


# -- part 1a: idle tick ---------------------------------------------------------------------------------------------
def idle_ticks(ctx: Context, url: str, rows: int, rounds: int, per_round: int) -> dict[str, Any]:
    engine = make_engine(url)
    migrate.upgrade(engine)
    seed_customers(engine, rows)
    resources = {"catalog_db": CatalogDatabase(url=url),
                 "stripe": StripeResource(api_key=KEY, api_base="http://127.0.0.1:9")}
    sides = {}
    with DagsterInstance.ephemeral() as instance:
        for label, spec in (("with", WITH), ("without", WITHOUT)):
            defs = Definitions.merge(build_catalog_definitions(spec), Definitions(resources=resources))
            sensor = defs.resolve_sensor_def("customers_changes")

            def tick(cursor: Any, sensor: Any = sensor, defs: Any = defs) -> Any:
                return sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=cursor, definitions=defs))

            first = tick(None)
            assert first.run_requests, label  # the first tick asks for a run over every row
            for _ in range(3):
                idle = tick(first.cursor)
                assert not idle.run_requests, label
            sides[label] = (tick, first.cursor)
        times: dict[str, list[float]] = {"with": [], "without": []}
        for round_no in range(rounds):  # interleaved, the order alternating, so load hits both alike
            order = ("with", "without") if round_no % 2 == 0 else ("without", "with")
            for label in order:
                tick, cursor = sides[label]
                times[label] += [_ms(lambda: tick(cursor)) for _ in range(per_round)]
    engine.dispose()
    return times


# -- part 1b: a sync -------------------------------------------------------------------------------------------------
def one_sync(ctx: Context, spec: Any, rows: int, label: str) -> dict[str, Any]:
    engine = make_engine(ctx.sqlite_url(f"tenants-sync-{label}"))
    migrate.upgrade(engine)
    seed_customers(engine, rows)
    with CountingSandbox(rate_limit=None) as sb:
        adapter = StripeAdapter(KEY, sb.url, rate_limit_per_second=100_000, max_concurrency=8)
        began = time.perf_counter()
        report = sync(spec, "stripe", CatalogTables(engine), MappingStore(engine), adapter, uuid.uuid4().hex)
        seconds = time.perf_counter() - began
    mapped = [m for m in MappingStore(engine).rows("customers", "stripe") if m["external_id"]]
    engine.dispose()
    assert report.created == len(mapped) > 0, (report.counts(), len(mapped))
    return {"seconds": seconds, "created": report.created, "counts": report.counts()}


def syncs(ctx: Context, rows: int, rounds: int) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {"with": [], "without": []}
    for round_no in range(rounds):
        order = (("with", WITH), ("without", WITHOUT))
        for label, spec in order if round_no % 2 == 0 else order[::-1]:
            found[label].append(one_sync(ctx, spec, rows, label))
            ctx.log(f"  sync {label} tenant_column, round {round_no + 1}: {found[label][-1]['counts']} in "
                    f"{found[label][-1]['seconds']:.1f} s")
    assert found["with"][0]["created"] == found["without"][0]["created"]
    return found


# -- part 2: many tenants through the sensor --------------------------------------------------------------------------
class AccountClock(CountingSandbox):
    """Per connected account: requests, 429s, and the first and last request's time."""

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.per_account: dict[str, dict[str, Any]] = defaultdict(lambda: {"requests": 0, "refused": 0,
                                                                            "first": None, "last": None})
        self._account_lock = threading.Lock()

    def after_request(self, request: Request, response: Response) -> Response:
        account = request.header("stripe-account")
        if account and "/v1/customers" in request.path:
            now = time.perf_counter()
            with self._account_lock:
                seen = self.per_account[account]
                seen["requests"] += 1
                seen["refused"] += response.status == 429
                seen["first"] = seen["first"] or now
                seen["last"] = now
        return super().after_request(request, response)


def _tenant_table(engine: Any, tenant_count: int, per_tenant: int) -> None:
    table = Table("tenant_customers", MetaData(), Column("tenant_id", String(100), primary_key=True),
                  *(Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable) for c in customers.c
                    if c.name != "tenant_id"))
    table.metadata.create_all(engine)
    rows = [{"tenant_id": f"t{t}", "id": i, "name": f"T{t} customer {i}", "email": f"{i}@t{t}.example",
             "currency": "usd", "created_at": NOW, "updated_at": NOW + dt.timedelta(seconds=i)}
            for t in range(tenant_count) for i in range(1, per_tenant + 1)]
    with engine.begin() as connection:
        for start in range(0, len(rows), 5000):
            connection.execute(table.insert(), rows[start:start + 5000])


def many_tenants(ctx: Context, tenant_count: int, per_tenant: int) -> dict[str, Any]:
    before = os.environ.get("STRIPE_API_KEY")
    try:
        return _many_tenants(ctx, tenant_count, per_tenant)
    finally:  # the platform's key is this scenario's: the scenarios after it in the process see the environment as was
        if before is None:
            os.environ.pop("STRIPE_API_KEY", None)
        else:
            os.environ["STRIPE_API_KEY"] = before


def _many_tenants(ctx: Context, tenant_count: int, per_tenant: int) -> dict[str, Any]:
    spec = dataclasses.replace(WITH, table="tenant_customers")
    url = ctx.sqlite_url("tenants-many")
    engine = make_engine(url)
    migrate.upgrade(engine)
    _tenant_table(engine, tenant_count, per_tenant)
    os.environ["STRIPE_API_KEY"] = KEY  # the platform's key, with which Connect tenants are reached
    with AccountClock(rate_limit=TENANT_LIMIT) as sb:
        platform = stripe.StripeClient(KEY, base_addresses={"api": sb.url})
        accounts = {f"t{t}": platform.v1.accounts.create({"type": "custom"}).id for t in range(tenant_count)}
        store = TenantStore(engine)
        for tenant, account in accounts.items():
            store.add(Tenant(tenant, stripe_account=account))
        resources = {"catalog_db": CatalogDatabase(url=url),
                     "stripe": StripeResource(api_key=KEY, api_base=sb.url, rate_limit_per_second=TENANT_LIMIT)}
        defs = Definitions.merge(build_catalog_definitions(spec), Definitions(resources=resources))
        sensor = defs.resolve_sensor_def("customers_changes")
        with DagsterInstance.ephemeral() as instance:
            def tick(cursor: Any) -> Any:
                return sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=cursor, definitions=defs))

            began = time.perf_counter()
            first_began = time.perf_counter()
            first = tick(None)
            tick_ms = (time.perf_counter() - first_began) * 1000
            lanes = sorted(r.tags[LANE_TAG] for r in first.run_requests)
            assert lanes == sorted(f"{t}:stripe" for t in accounts), lanes[:5]
            run_seconds = []
            for number, request in enumerate(first.run_requests, 1):
                job = defs.resolve_job_def(request.job_name)
                run_began = time.perf_counter()
                assert job.execute_in_process(instance=instance, tags=request.tags, run_config=request.run_config
                                              ).success, request.tags
                run_seconds.append(time.perf_counter() - run_began)
                if number % 25 == 0:
                    ctx.log(f"  {number} of {len(first.run_requests)} tenant runs done")
            seconds = time.perf_counter() - began
            again = tick(first.cursor)
            assert not again.run_requests, [r.tags for r in again.run_requests]
        # Before the read-back below, which lists every account: those reads are not the runs' requests.
        spans = {a: (dict(s), s["last"] - s["first"]) for a, s in sb.per_account.items()}
        expected = {str(i) for i in range(1, per_tenant + 1)}
        for tenant, account in accounts.items():  # exactly once, in its own account and in its own mappings
            client = stripe.StripeClient(KEY, stripe_account=account, base_addresses={"api": sb.url})
            ids = [c.metadata["zenskar_id"] for c in client.v1.customers.list({"limit": 100}).auto_paging_iter()]
            assert len(ids) == len(set(ids)) and set(ids) == expected, (tenant, len(ids))
            mapped = [m["internal_id"] for m in MappingStore(engine, tenant).rows("customers", "stripe")
                      if m["external_id"]]
            assert len(mapped) == len(set(mapped)) and set(mapped) == expected, (tenant, len(mapped))
        assert not platform.v1.customers.list({"limit": 1}).data  # the platform's own account untouched
        assert set(spans) == set(accounts.values()), len(spans)
        # What the account's bucket admits from its first to its last request: a full bucket plus the refill.
        shares = [100 * seen["requests"] / (TENANT_LIMIT + TENANT_LIMIT * span) for seen, span in spans.values()]
        rates = [seen["requests"] / span for seen, span in spans.values() if span > 0]
        refused = sum(seen["refused"] for seen, _ in spans.values())
        requests_total = sum(seen["requests"] for seen, _ in spans.values())
    engine.dispose()
    return {"tenants": tenant_count, "per_tenant": per_tenant, "seconds": seconds, "first_tick_ms": tick_ms,
            "run_seconds": run_seconds, "shares": shares, "rates": rates, "refused": refused,
            "requests": requests_total}


def run(ctx: Context) -> Result:
    stripe.enable_telemetry = False
    rows = _env("ZENSYNC_BENCH_TENANT_ROWS", 10_000, 500, ctx)
    tenant_count = _env("ZENSYNC_BENCH_TENANTS", 200, 3, ctx)
    per_tenant = _env("ZENSYNC_BENCH_TENANT_CUSTOMERS", 100, 10, ctx)
    sync_rounds = _env("ZENSYNC_BENCH_TENANT_SYNC_ROUNDS", 3, 1, ctx)
    load_before = os.getloadavg()
    result = Result(NAME, TITLE)

    backends = ctx.each_backend("tenants-ticks", lambda backend, url: idle_ticks(
        ctx, url, rows, rounds=ctx.size(6, 2), per_round=ctx.size(20, 5)))
    for backend, ticks in backends.items():
        ctx.log(f"  idle tick, {backend}: {statistics.median(ticks['with']):.2f} ms with tenant_column, "
                f"{statistics.median(ticks['without']):.2f} ms without")
    ticks = backends["SQLite"]
    tick_with, tick_without = statistics.median(ticks["with"]), statistics.median(ticks["without"])
    found = syncs(ctx, rows, sync_rounds)
    sync_with = statistics.median(r["seconds"] for r in found["with"])
    sync_without = statistics.median(r["seconds"] for r in found["without"])
    load_mid = os.getloadavg()

    many = many_tenants(ctx, tenant_count, per_tenant)
    ctx.log(f"  {tenant_count} tenants x {per_tenant}: {many['seconds']:.1f} s")
    load_after = os.getloadavg()

    tick_ratio, sync_ratio = tick_with / tick_without, sync_with / sync_without
    result.figure("idle change-sensor tick, tenant_column, no tenant", tick_with, "ms",
                  "the same spec without tenant_column", tick_without,
                  note=f"{rows:,} rows, medians of {len(ticks['with'])} ticks each")
    result.figure("idle change-sensor tick without tenant_column", tick_without, "ms")
    pg = backends["PostgreSQL"]
    pg_with, pg_without = statistics.median(pg["with"]), statistics.median(pg["without"])
    result.figure("idle change-sensor tick, tenant_column, no tenant, PostgreSQL", pg_with, "ms",
                  "the same spec without tenant_column", pg_without)
    result.target("idle tick on PostgreSQL: tenant_column / none", "<= 1.1x", pg_with / pg_without, "x",
                  pg_with / pg_without <= 1.1)
    result.figure(f"{rows:,}-row sync to Stripe, tenant_column, no tenant", sync_with, "s",
                  "the same spec without tenant_column", sync_without,
                  note=f"{found['with'][0]['created']:,} customers created; medians of {sync_rounds} rounds")
    result.figure(f"{rows:,}-row sync without tenant_column", sync_without, "s")
    result.target("idle tick: tenant_column / none", "<= 1.1x", tick_ratio, "x", tick_ratio <= 1.1)
    result.target(f"{rows:,}-row sync: tenant_column / none", "<= 1.1x", sync_ratio, "x", sync_ratio <= 1.1)

    total = tenant_count * per_tenant
    shares = sorted(many["shares"])
    result.figure(f"{tenant_count} tenants x {per_tenant}: sensor tick asking for {tenant_count} runs",
                  many["first_tick_ms"], "ms")
    result.figure(f"{tenant_count} tenants x {per_tenant}: tick + runs one after another", many["seconds"], "s",
                  f"one tenant's run ({statistics.median(many['run_seconds']):.2f} s, median) x {tenant_count}",
                  statistics.median(many["run_seconds"]) * tenant_count,
                  note=f"{total:,} customers, {total / many['seconds']:.0f} rows/s overall")
    result.figure("tenant run, median wall time", statistics.median(many["run_seconds"]), "s",
                  f"{per_tenant} requests at {TENANT_LIMIT}/s", per_tenant / TENANT_LIMIT)
    result.figure("share of the tenant's own limit, median over tenants", statistics.median(shares), "%",
                  note=f"min {shares[0]:.0f} %, max {shares[-1]:.0f} %; {many['refused']} 429s in "
                  f"{many['requests']:,} requests")
    result.figure("a tenant's requests/s from its first to its last request, median over tenants",
                  statistics.median(many["rates"]), "req/s", f"its own limit ({TENANT_LIMIT}/s)", TENANT_LIMIT,
                  note=f"min {min(many['rates']):.0f}, max {max(many['rates']):.0f}; a full bucket (1 s of the "
                  f"limit) lets a short run go above the limit")
    result.target("every tenant's rows exactly once (Stripe per account and mappings)", "all tenants",
                  tenant_count, "tenants", True)  # asserted in many_tenants: a miss raises
    result.data = {"rows": rows, "ticks_ms": backends, "syncs": found, "many": many,
                   "load": {"before": load_before, "between": load_mid, "after": load_after}}
    result.plots.append(ctx.bar_plot(
        "tenants_cost.png", "Tenant column without tenants / without the column (interleaved rounds)",
        ["idle tick", f"{rows:,}-row sync"], [tick_ratio, sync_ratio], "ratio", reference=1.1,
        reference_label="target 1.1x"))
    result.notes += [
        f"Load average (1, 5, 15 min): {load_before[0]:.1f}/{load_before[1]:.1f}/{load_before[2]:.1f} before, "
        f"{load_mid[0]:.1f}/{load_mid[1]:.1f}/{load_mid[2]:.1f} after part 1, "
        f"{load_after[0]:.1f}/{load_after[1]:.1f}/{load_after[2]:.1f} at the end; 2 CPUs shared with other "
        f"engineers' tests.",
        (f"Part 1: the shipped customers spec (tenant_column tenant_id, Stripe only) with no tenant registered "
         f"against dataclasses.replace(spec, tenant_column=None), the demo customers table (seed_customers, "
         f"{rows:,} rows), SQLite (the tick on PostgreSQL too, a schema of its own). Idle tick: the whole "
         f"Dagster sensor evaluation, {ctx.size(6, 2)} interleaved "
         f"rounds of {ctx.size(20, 5)} ticks per side, alternating which side goes first. Sync: engine sync() to a "
         f"fresh StripeSandbox (no latency, no limit; adapter 8 in flight), a fresh catalog per run, "
         f"{sync_rounds} interleaved rounds: with {[round(r['seconds'], 1) for r in found['with']]} s, without "
         f"{[round(r['seconds'], 1) for r in found['without']]} s."),
        (f"Part 2: {tenant_count} tenants, each a connected account (Stripe-Account with the platform's key), the "
         f"same ids 1..{per_tenant} in each, in a table keyed (tenant_id, id). One change-sensor tick asked for "
         f"{tenant_count} runs; their jobs ran in process one after another with the requests' tags (not a "
         f"daemon: on the 2-core shared machine its launches would measure the machine). Each account's limit "
         f"{TENANT_LIMIT}/s in the sandbox and the resource. Share of its own limit = the account's requests / "
         f"(burst + limit x its first-to-last request span). A run is short ({per_tenant} creates, about "
         f"{per_tenant / TENANT_LIMIT:.0f} s at the limit), so Dagster's run start and the adapter's ramp weigh "
         f"in the share."),
    ]
    return result
