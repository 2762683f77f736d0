"""Stripe: how close a customers sync runs to the account's rate limit (Stripe has no batch API, so throughput
is requests per second), at two limits, with 100 ms of latency, against a sequential per-row worker."""

from __future__ import annotations

import dataclasses
import threading
import time
import uuid
from typing import Any, Optional

import stripe
from sqlalchemy import select

from benchmarks.common import Context, Result
from zensync_pipelines.catalogs import load_specs
from zensync_pipelines.demo.seed import seed_customers
from zensync_pipelines.demo.tables import customers
from zensync_pipelines.engine.plan import plan_row
from zensync_pipelines.engine.sync import sync
from zensync_pipelines.sandbox.core import Request, Response
from zensync_pipelines.sandbox.stripe import StripeSandbox
from zensync_pipelines.store import migrate
from zensync_pipelines.store.catalog import CatalogTables
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines.systems.stripe import StripeAdapter
from zensync_pipelines.systems.stripe.shared import drop_none, with_zenskar_id

NAME = "stripe"
TITLE = "Stripe: throughput as a share of the rate limit, zensync vs a sequential per-row worker"
LATENCY_MS = 100
LIMITS = (25, 100)
# (limit, max_concurrency): None is the adapter's default, derived from the limit; the last run keeps the old
# fixed default of 8 to show what latency x concurrency does to a 100/s limit.
CONFIGURATIONS = ((25, None), (100, None), (100, 8))
KEY = "sk_test_bench"
CUSTOMERS = {spec.name: spec for spec in load_specs()}["customers"]
SPEC = dataclasses.replace(CUSTOMERS, systems={"stripe": CUSTOMERS.systems["stripe"]})


class CountingSandbox(StripeSandbox):
    """Counts 429 replies: the request counters count every request whatever its answer."""

    def __init__(self, **kwargs: Any):
        super().__init__(**kwargs)
        self.refused = 0
        self._refused_lock = threading.Lock()

    def after_request(self, request: Request, response: Response) -> Response:
        if response.status == 429:
            with self._refused_lock:
                self.refused += 1
        return super().after_request(request, response)


def api_requests(sb: StripeSandbox) -> int:
    return sum(n for route, n in sb.counters.snapshot().items() if " /v1/" in route)


def catalog_rows(ctx: Context, name: str, count: int) -> Any:
    engine = make_engine(ctx.sqlite_url(name))
    migrate.upgrade(engine)
    seed_customers(engine, count)
    return engine


def run_engine(ctx: Context, rows: int, limit: int, concurrency: Optional[int]) -> dict[str, Any]:
    engine = catalog_rows(ctx, f"stripe-{limit}-{concurrency}", rows)
    with CountingSandbox(latency_ms=LATENCY_MS, rate_limit=limit) as sb:
        adapter = StripeAdapter(KEY, sb.url, rate_limit_per_second=limit, max_concurrency=concurrency)
        began = time.perf_counter()
        report = sync(SPEC, "stripe", CatalogTables(engine), MappingStore(engine), adapter, uuid.uuid4().hex)
        seconds = time.perf_counter() - began
        found = {"limit": limit, "concurrency": adapter.max_concurrency, "seconds": seconds, "report": report.counts(),
                 "requests": api_requests(sb), "refused": sb.refused, "written": report.created + report.updated,
                 "counters": sb.counters.snapshot()}
    engine.dispose()
    ctx.log(f"  limit {limit}/s: {found['report']} in {seconds:.1f} s, {found['requests']} requests, "
            f"{found['refused']} 429s")
    return found


def per_row_worker(ctx: Context, rows: int, limit: int) -> dict[str, Any]:
    """customers.create one row at a time, no concurrency, with the engine's payloads for the rows it accepts."""
    engine = catalog_rows(ctx, "stripe-per-row", rows)
    with engine.connect() as connection:
        catalog = [dict(r._mapping) for r in connection.execute(select(customers).order_by(customers.c.id))]
    engine.dispose()
    ops = [op for row in catalog for op in plan_row(SPEC, "stripe", row, {}).operations]
    with CountingSandbox(latency_ms=LATENCY_MS, rate_limit=limit) as sb:
        client = stripe.StripeClient(KEY, base_addresses={"api": sb.url}, max_network_retries=2)
        began = time.perf_counter()
        for op in ops:
            client.v1.customers.create(params=drop_none(with_zenskar_id(op.payload, op.internal_id)))
        seconds = time.perf_counter() - began
        return {"rows": rows, "written": len(ops), "seconds": seconds, "requests": api_requests(sb),
                "refused": sb.refused}


def admitted(limit: float, seconds: float) -> float:
    """Requests the sandbox's token bucket admits in `seconds`: a full bucket (1 s of the limit) plus the refill.
    Dividing by this, not by limit x seconds, keeps the starting burst from reading as more than 100 %."""
    return limit + limit * seconds


def run(ctx: Context) -> Result:
    stripe.enable_telemetry = False
    rows, sample = ctx.size(2_000, 150), ctx.size(100, 30)
    result = Result(NAME, TITLE)
    runs = [run_engine(ctx, rows, limit, concurrency) for limit, concurrency in CONFIGURATIONS]
    baseline = per_row_worker(ctx, sample, max(LIMITS))
    ctx.log(f"  per-row worker: {baseline['written']} creates in {baseline['seconds']:.1f} s")
    base_rate = baseline["requests"] / baseline["seconds"]
    result.data = {"rows": rows, "sample": sample, "latency_ms": LATENCY_MS, "runs": runs, "per_row": baseline}

    for found in runs:
        limit, seconds = found["limit"], found["seconds"]
        label = f"{limit}/s, {found['concurrency']} in flight"
        share = found["requests"] / admitted(limit, seconds)
        result.figure(f"{label}: API requests/s", found["requests"] / seconds, "req/s", f"the limit ({limit}/s)",
                      limit, note=f"{found['requests']} requests in {seconds:.1f} s")
        result.figure(f"{label}: share of the limit", 100 * share, "%", note="requests / (burst + limit x time)")
        result.figure(f"{label}: rows/s", found["written"] / seconds, "rows/s", f"the limit ({limit}/s)", limit,
                      note=f"{found['written']} customers created of {rows} rows")
        result.figure(f"{label}: 429s received", found["refused"], "replies")
        if found is not runs[-1]:  # the last run is the old fixed concurrency, shown for contrast only
            result.target(f"requests/s at {limit}/s", ">= 90% of the limit", 100 * share, "%", share >= 0.9)
            result.figure(f"{limit}/s: zensync vs per-row worker", found["written"] / seconds, "rows/s",
                          "per-row worker rows/s", base_rate)
    for limit in LIMITS:
        result.figure(f"per-row worker rows/s vs {limit}/s", base_rate, "rows/s", f"the limit ({limit}/s)", limit)

    labels = [f"zensync {r['limit']}/s\n{r['concurrency']} in flight" for r in runs] + \
        [f"per-row {limit}/s" for limit in LIMITS]
    shares = [100 * r["requests"] / admitted(r["limit"], r["seconds"]) for r in runs] + \
        [100 * base_rate / limit for limit in LIMITS]
    result.plots.append(ctx.bar_plot(
        "stripe_throughput.png", f"Stripe requests as a share of the rate limit, {rows:,} customers, "
        f"{LATENCY_MS} ms latency", labels, shares, "% of the configured limit", reference=100,
        reference_label="the limit"))
    result.plots.append(ctx.bar_plot(
        "stripe_requests_per_second.png", "Stripe requests/s (dashed: the higher limit)", labels,
        [r["requests"] / r["seconds"] for r in runs] + [base_rate] * len(LIMITS), "requests/s",
        reference=max(LIMITS), reference_label=f"{max(LIMITS)}/s limit"))
    result.notes += [
        (f"Sizes: {rows:,} catalog customers (seed_customers), {runs[0]['written']:,} valid ones created (one "
         f"request each); the seed's invalid rows are refused by the planner before any request, so they cost no "
         f"share of the limit. Latency {LATENCY_MS} ms per request."),
        ("Method: the engine's sync() of the customers spec's Stripe object, a fresh StripeSandbox and SQLite "
         "catalog per configuration; the sandbox's token bucket (burst = 1 s of the limit) and the adapter's own "
         "bucket are set to the same limit. Share of the limit = every /v1/ request the sandbox counted (429s "
         "included) / (burst + limit x the sync's wall time): what the limiter could have admitted."),
    ] + [f"{r['limit']}/s with {r['concurrency']} requests in flight: {r['seconds']:.1f} s, {r['requests']} "
         f"requests, {r['refused']} 429s{' (each retried by the adapter after a backoff)' if r['refused'] else ''}."
         for r in runs] + [
        (f"What bounds it: throughput is min(limit, in flight / round trip). With {LATENCY_MS} ms latency a 100/s "
         f"limit needs >= 10 requests in flight (more with the sandbox's and the SDK's own time); the adapter's "
         f"old fixed default of 8 capped it near 70 req/s (last configuration). The adapter now defaults to "
         f"ceil(limit x 0.4 s) in flight (Stripe's own write latency is ~0.2-0.4 s), so the limit binds. It also "
         f"used to start a thread pool per batch of 100: fresh threads meant fresh SDK sessions and new "
         f"connections every batch, which held even 40 in flight to ~80 req/s; the pool now lives as long as the "
         f"adapter. The rest: the engine's per-batch barrier (100 operations, then bookkeeping) idles the pool "
         f"for about one round trip per batch, which the token bucket's refill largely hands back as a burst in "
         f"the next batch; and the sandbox, the SDK and the engine share one process and its GIL on a 2-core machine."),
        (f"Per-row worker: client.v1.customers.create for each of the first {sample} rows in sequence "
         f"({baseline['written']} creates, {baseline['seconds']:.1f} s, {baseline['refused']} 429s) at the "
         f"{max(LIMITS)}/s limit. One request at a time never reaches even 25/s, so its rate does not depend on the "
         f"limit: the same rows/s is compared to both limits, and extrapolates linearly to {rows:,} rows "
         f"({rows / base_rate:.0f} s). Bounded by one round trip per row: ~1 / ({LATENCY_MS} ms + overhead)."),
    ]
    return result
