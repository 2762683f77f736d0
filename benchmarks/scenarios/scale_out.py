"""Scale-out: one fan-out sync of many tenants' customers to Stripe (one step per tenant) on 1, 2 and 4 Celery
workers, against the Stripe sandbox with 50 ms of latency and a per-account rate limit; and what the Celery path
adds to a one-row run, against the same run in process.

Each tenant has its own connected account and limit, so the API allows tenants x rate requests per second: with
enough tenants the work is bound by how many steps run at once (the workers), until the machine's cores are."""

from __future__ import annotations

import importlib
import os
import time
from pathlib import Path
from typing import Any

from benchmarks.common import POSTGRES_URL, Context, Result, median

NAME = "scale_out"
TITLE = "Scale-out: a many-tenant Stripe sync on 1, 2 and 4 Celery workers"
LATENCY_MS = 50
SANDBOX_RATE, CLIENT_RATE = 25, 20  # Stripe's test mode allows 25/s; zensync's bucket admits 20/s per tenant
WORKERS = (1, 2, 4)
# The systems' pools sized above the workers' slots, as docs/scale-out.md asks of a Celery deployment: with a pool
# of exactly 4 on 4 workers, each freed slot stayed idle 10-14 s (Dagster re-checks a blocked claim with a backoff
# growing to 15 s), and 4 workers reached 3.15x instead of ~3.8x at 50 tenants; with more slots than workers the
# next steps already wait in the broker's queue.
POOL_LIMIT = 2 * max(WORKERS)


def _fanout(tenants: list[str]) -> tuple[Any, float]:
    from dagster import DagsterInstance, execute_job
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    from zensync_pipelines.dagster_defs.fanout import fanout_job_name
    from zensync_pipelines_tests.scale_out import location

    importlib.reload(location)
    job = ReconstructableRepository.for_module(location.__name__, "defs").get_reconstructable_job(
        fanout_job_name(location.SPEC, "stripe"))
    with DagsterInstance.get() as instance:
        began = time.perf_counter()
        result = execute_job(job, instance, raise_on_error=False,
                             run_config={"ops": {"stripe__customers__units": {"config": {"tenants": tenants}}}})
        return result, time.perf_counter() - began


def _one_row_run(tenant: str, executor: str) -> float:
    """Seconds of a run of the copy's own job (a sensor's run) for a tenant with one row, on `executor`."""
    from dagster import DagsterInstance, execute_job
    from dagster._core.definitions.reconstruct import ReconstructableRepository

    from zensync_pipelines.dagster_defs.factory import job_name
    from zensync_pipelines.dagster_defs.scope import tenant_tags
    from zensync_pipelines.dagster_defs.tenant_systems import lane_tags
    from zensync_pipelines_tests.scale_out import location

    os.environ["ZENSYNC_EXECUTOR"] = executor
    importlib.reload(location)
    job = ReconstructableRepository.for_module(location.__name__, "defs").get_reconstructable_job(
        job_name(location.SPEC, "stripe"))
    with DagsterInstance.get() as instance:
        began = time.perf_counter()
        result = execute_job(job, instance, tags=tenant_tags(tenant) | lane_tags(tenant, "stripe"))
        assert result.success
        return time.perf_counter() - began


def _shares(result: Any) -> list[float]:
    """Each tenant's step: its requests per second while syncing, as a share of its own limit."""
    shares = []
    for event in result.get_asset_materialization_events():
        metadata = event.materialization.metadata
        if "tenant" in metadata and metadata["seconds"].value > 0:
            shares.append(metadata["api_calls"].value / metadata["seconds"].value / CLIENT_RATE)
    return shares


def run(ctx: Context) -> Result:
    from zensync_pipelines_tests.scale_out.cluster import celery_cluster

    # The full size takes ~45 minutes on one worker; ZENSYNC_BENCH_SCALE_OUT=<tenants>x<customers> runs another.
    size = os.environ.get("ZENSYNC_BENCH_SCALE_OUT")
    tenants, per_tenant = tuple(map(int, size.split("x"))) if size else (4, 10) if ctx.smoke else (50, 1000)
    # ZENSYNC_BENCH_SCALE_OUT_WORKERS=4 measures some sizes of the cluster only (the ratios need 1 worker).
    sizes = tuple(int(w) for w in os.environ.get("ZENSYNC_BENCH_SCALE_OUT_WORKERS", "").split(",") if w) or WORKERS
    result = Result(NAME, TITLE)
    throughput, figures = {}, {}
    with celery_cluster(POSTGRES_URL, Path(ctx.work) / f"scale_out_{time.time_ns()}", SANDBOX_RATE, CLIENT_RATE,
                        latency_ms=LATENCY_MS, pool_limit=POOL_LIMIT) as cluster:
        for workers in sizes:
            rows = {f"w{workers}t{i:02d}": per_tenant for i in range(tenants)}
            cluster.add_tenants(rows)
            for n in range(workers):
                cluster.start_worker(f"w{n + 1}")
            cluster.wait_ready()
            load_before = os.getloadavg()[0]
            run_result, seconds = _fanout(list(rows))
            load_after = os.getloadavg()[0]
            cluster.stop_workers()
            assert run_result.success, f"fan-out on {workers} workers failed"
            throughput[workers] = tenants * per_tenant / seconds
            figures[workers] = {"seconds": round(seconds, 1), "rows_per_second": round(throughput[workers], 1),
                                "median_share_of_limit": round(median(_shares(run_result)), 3),
                                "load_average_1min": [round(load_before, 1), round(load_after, 1)]}
            ctx.log(f"{workers} workers: {figures[workers]}")
        cluster.add_tenants({"single": 1})
        cluster.start_worker("w1")
        cluster.wait_ready()
        one_row = {executor: [_one_row_run("single", executor) for _ in range(3)]
                   for executor in ("in_process", "celery")}
        cluster.stop_workers()
    for workers in sizes:
        result.figure(f"rows/s on {workers} worker(s)", throughput[workers], "rows/s", "1 worker",
                      throughput.get(1))
        result.figure(f"median tenant's share of its limit, {workers} worker(s)",
                      figures[workers]["median_share_of_limit"], "x limit")
    in_process, celery = median(one_row["in_process"][1:]), median(one_row["celery"][1:])
    result.figure("one-row run in process", in_process, "s")
    result.figure("one-row run on Celery", celery, "s", "in process", in_process)
    for workers, goal in ((2, 1.8), (4, 3.2)):
        if 1 not in throughput or workers not in throughput:
            continue
        ratio = throughput[workers] / throughput[1]
        result.target(f"{workers} workers", f">= {goal}x 1 worker", ratio, "x", ratio >= goal)
    result.notes.append(f"{tenants} tenants x {per_tenant} customers, one step per tenant, each worker one step at "
                        f"a time; sandbox {LATENCY_MS} ms latency, {SANDBOX_RATE}/s per account, zensync "
                        f"{CLIENT_RATE}/s per tenant; pools of {POOL_LIMIT} steps per system; {os.cpu_count()} CPUs "
                        f"shared by the workers, the run's orchestrator, the sandbox and PostgreSQL.")
    result.data = {"runs": figures, "one_row_seconds": one_row}
    result.plots.append(ctx.bar_plot("scale_out.png", "Rows per second by workers",
                                     [f"{w} worker(s)" for w in sizes], [throughput[w] for w in sizes],
                                     "rows/s"))
    return result
