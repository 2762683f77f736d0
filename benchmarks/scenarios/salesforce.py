"""Salesforce: API calls and wall time of a customers sync through Collections and through Bulk API 2.0, against
the protocol minimum of each and against a per-row REST worker, with 100 ms of latency on every call."""

from __future__ import annotations

import math
import time
import uuid
from typing import Any

from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError
from sqlalchemy import select

from benchmarks.common import Context, Result
from zensync_pipelines.catalogs import load_specs
from zensync_pipelines.demo.seed import seed_customers
from zensync_pipelines.demo.tables import customers
from zensync_pipelines.engine.plan import plan_row
from zensync_pipelines.engine.sync import sync
from zensync_pipelines.sandbox.salesforce import SalesforceSandbox
from zensync_pipelines.store import migrate
from zensync_pipelines.store.catalog import CatalogTables
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines.systems.salesforce import SalesforceResource

NAME = "salesforce"
TITLE = "Salesforce: API calls and wall time, Collections vs Bulk 2.0 vs a per-row REST worker"
LATENCY_MS = 100
COLLECTION_SIZE = 200  # records per sObject Collections call, Salesforce's maximum
SPEC = {spec.name: spec for spec in load_specs()}["customers"]
# Fast retries only matter under faults (none here); a short first Bulk poll keeps wall time about the protocol.
SETTINGS = {"client_id": "zensync-app", "client_secret": "app-secret", "retry_base_seconds": 0.05,
            "bulk_poll_seconds": 0.05}


def api_calls(counters: dict[str, int]) -> dict[str, int]:
    """What Salesforce bills: every request under /services/data/ (logins and /_sandbox/ are free)."""
    return {route: n for route, n in counters.items() if "/services/data/" in route}


def write_calls(counters: dict[str, int]) -> int:
    return sum(n for route, n in api_calls(counters).items() if route.split()[0] in ("POST", "PATCH", "PUT", "DELETE"))


def overhead_calls(counters: dict[str, int]) -> int:
    """Calls that carry no records: the /limits probe the budget guard makes before the first write."""
    return sum(n for route, n in api_calls(counters).items() if route.endswith("/limits"))


def written(sb: SalesforceSandbox) -> tuple[int, int]:
    return len(sb.store.rows("Account")), len(sb.store.rows("Contact"))


def run_engine(ctx: Context, sb: SalesforceSandbox, name: str, rows: int, **settings: Any) -> dict[str, Any]:
    """Seed a fresh catalog, sync it once and once more (nothing changed); counters and time of each run."""
    engine = make_engine(ctx.sqlite_url(name))
    migrate.upgrade(engine)
    seed_customers(engine, rows)
    resource = SalesforceResource(login_url=sb.login_url, ca_bundle=sb.ca_file, **(SETTINGS | settings))
    runs = []
    for _ in range(2):
        sb.counters.reset()
        began = time.perf_counter()
        report = sync(SPEC, "salesforce", CatalogTables(engine), MappingStore(engine), resource.adapter(),
                      uuid.uuid4().hex)
        runs.append({"seconds": time.perf_counter() - began, "counters": sb.counters.snapshot(),
                     "report": report.counts()})
        ctx.log(f"  {name}: {report.counts()} in {runs[-1]['seconds']:.1f} s")
    engine.dispose()
    first, rerun = runs
    accounts, contacts = written(sb)
    counters = first["counters"]
    return {"seconds": first["seconds"], "calls": sum(api_calls(counters).values()), "writes": write_calls(counters),
            "overhead": overhead_calls(counters), "logins": counters.get("POST /services/oauth2/token", 0),
            "accounts": accounts, "contacts": contacts, "counters": counters, "report": first["report"],
            "rerun_calls": sum(api_calls(rerun["counters"]).values()),
            "rerun_writes": write_calls(rerun["counters"]), "rerun_seconds": rerun["seconds"]}


def per_row_worker(ctx: Context, rows: int) -> dict[str, Any]:
    """One REST upsert per record, in sequence: what a simple worker does. Same payloads as the engine's (its
    planner builds them; rows it rejects locally are skipped here too), so only the protocol differs."""
    engine = make_engine(ctx.sqlite_url("salesforce-per-row"))
    migrate.upgrade(engine)
    seed_customers(engine, rows)
    with engine.connect() as connection:
        catalog = [dict(r._mapping) for r in connection.execute(select(customers).order_by(customers.c.id))]
    engine.dispose()
    ops = [op for row in catalog for op in plan_row(SPEC, "salesforce", row, {}).operations]
    failed = 0
    with SalesforceSandbox(latency_ms=LATENCY_MS) as sb:
        sf = Salesforce(instance_url=sb.instance_url, session_id=sb.new_session(), session=sb.requests_session())
        began = time.perf_counter()
        for op in ops:
            try:
                getattr(sf, op.object_type).upsert(f"{op.external_id_field}/{op.internal_id}", op.payload)
            except SalesforceError:
                failed += 1
        seconds = time.perf_counter() - began
        counters = sb.counters.snapshot()
    return {"rows": rows, "seconds": seconds, "calls": sum(api_calls(counters).values()), "records": len(ops),
            "failed": failed, "counters": counters}


def collections_minimum(accounts: int, contacts: int) -> int:
    return math.ceil(accounts / COLLECTION_SIZE) + math.ceil(contacts / COLLECTION_SIZE)


def run(ctx: Context) -> Result:
    rows, sample = ctx.size(10_000, 600), ctx.size(300, 50)
    result = Result(NAME, TITLE)
    paths: dict[str, dict[str, Any]] = {}
    with SalesforceSandbox(latency_ms=LATENCY_MS) as sb:
        # Every upsert through Collections: the threshold is above any batch.
        paths["collections"] = run_engine(ctx, sb, "salesforce-collections", rows, bulk_threshold=10 ** 9)
    with SalesforceSandbox(latency_ms=LATENCY_MS) as sb:
        # One Bulk job per object: every batch goes to Bulk, and one batch holds the whole run.
        paths["bulk"] = run_engine(ctx, sb, "salesforce-bulk", rows, bulk_threshold=0, batch_size=2 * rows)
    baseline = per_row_worker(ctx, sample)
    ctx.log(f"  per-row worker: {baseline['calls']} calls for {sample} rows in {baseline['seconds']:.1f} s")
    col, blk = paths["collections"], paths["bulk"]
    scale = rows / sample
    base_calls, base_seconds = baseline["calls"] * scale, baseline["seconds"] * scale
    result.data = {"rows": rows, "sample": sample, "latency_ms": LATENCY_MS, "paths": paths, "per_row": baseline}

    # -- Collections against its protocol minimum ---------------------------------------------------------------
    col_min = collections_minimum(col["accounts"], col["contacts"])
    col_record_calls = col["calls"] - col["overhead"]
    result.figure("Collections: API calls", col["calls"], "calls", f"protocol minimum ({col_min} calls)", col_min,
                  note=f"{col['writes']} writes + {col['overhead']} /limits probe; {col['logins']} login(s) not "
                       "billed")
    result.figure("Collections: record-carrying calls", col_record_calls, "calls",
                  f"protocol minimum ({col_min} calls)", col_min)
    result.target("Collections calls vs protocol minimum", "<= 1.1x", col["calls"] / col_min, "x",
                  col["calls"] <= 1.1 * col_min)
    result.figure("Collections: wall time", col["seconds"], "s", f"latency x protocol minimum "
                  f"({col_min * LATENCY_MS / 1000:.1f} s)", col_min * LATENCY_MS / 1000)
    result.figure("Collections: throughput", rows / col["seconds"], "rows/s")

    # -- Bulk 2.0 against its protocol minimum ------------------------------------------------------------------
    jobs = blk["counters"].get("POST /services/data/{version}/jobs/ingest", 0)
    # Per job: create, upload, close, >= 1 poll, successfulResults; failedResults only for a job reporting failures.
    with_failures = sum(n for route, n in blk["counters"].items() if route.endswith("/failedResults"))
    bulk_min = 5 * jobs + with_failures
    result.figure("Bulk 2.0: API calls", blk["calls"], "calls", f"protocol minimum ({bulk_min} calls, {jobs} "
                  "jobs)", bulk_min, note=f"{blk['writes']} writes + {blk['overhead']} /limits probe")
    per_job = (blk["calls"] - blk["overhead"]) / max(jobs, 1)
    per_job_min = bulk_min / max(jobs, 1)
    result.figure("Bulk 2.0: calls per job", per_job, "calls", f"protocol minimum ({per_job_min:g} per job)",
                  per_job_min)
    result.target("Bulk calls per job vs protocol minimum", "<= 1.1x", per_job / per_job_min, "x",
                  per_job <= 1.1 * per_job_min)
    result.figure("Bulk 2.0: wall time", blk["seconds"], "s", "Collections wall time", col["seconds"])
    result.figure("Bulk 2.0: throughput", rows / blk["seconds"], "rows/s")
    result.figure("Collections calls vs Bulk calls", col["calls"], "calls", "Bulk 2.0 calls", blk["calls"])

    # -- against the per-row worker ----------------------------------------------------------------------------
    result.figure("Per-row worker: API calls (extrapolated)", base_calls, "calls", "zensync Collections calls",
                  col["calls"])
    result.figure("Per-row worker: API calls vs Bulk (extrapolated)", base_calls, "calls", "zensync Bulk calls",
                  blk["calls"])
    result.target("Per-row calls / zensync calls (Collections, the costlier path)", ">= 100x",
                  base_calls / col["calls"], "x", base_calls >= 100 * col["calls"])
    result.figure("Per-row worker: wall time (extrapolated)", base_seconds, "s", "zensync Collections wall time",
                  col["seconds"])
    result.figure("Per-row worker: wall time vs Bulk (extrapolated)", base_seconds, "s", "zensync Bulk wall time",
                  blk["seconds"])

    # -- rerun with nothing changed ----------------------------------------------------------------------------
    for label, path in (("Collections", col), ("Bulk 2.0", blk)):
        result.figure(f"{label}: rerun write calls", path["rerun_writes"], "calls",
                      note=f"{path['rerun_calls']} API calls in all, {path['rerun_seconds']:.2f} s")
    result.target("Rerun with nothing changed: write calls", "= 0", col["rerun_writes"] + blk["rerun_writes"],
                  "calls", col["rerun_writes"] + blk["rerun_writes"] == 0)

    labels = ["zensync Collections", "zensync Bulk 2.0", "per-row REST (extrap.)"]
    result.plots.append(ctx.bar_plot("salesforce_calls.png", f"Salesforce API calls, {rows:,} customers",
                                     labels, [col["calls"], blk["calls"], base_calls], "API calls (log)", log=True,
                                     reference=col_min, reference_label="Collections protocol minimum"))
    result.plots.append(ctx.bar_plot("salesforce_seconds.png", f"Wall time, {rows:,} customers, {LATENCY_MS} ms "
                                     "latency", labels, [col["seconds"], blk["seconds"], base_seconds],
                                     "seconds (log)", log=True))

    report = col["report"]
    result.notes += [
        (f"Sizes: {rows:,} catalog customers (seed_customers) -> {col['accounts']:,} Accounts and "
         f"{col['contacts']:,} Contacts written; the seed's invalid rows are refused by the planner before any call "
         f"({report['failed']} invalid records, {report['waiting']} Contacts waiting for their invalid Account). "
         f"Latency {LATENCY_MS} ms on every sandbox request, real HTTPS, simple-salesforce."),
        (f"Method: the engine's sync() of the shipped customers spec into a fresh SalesforceSandbox per path, "
         f"catalog on SQLite; calls are the sandbox's counters for /services/data/ routes (what Salesforce bills). "
         f"OAuth client-credentials logins ({col['logins']} per run) are not API calls and are not counted."),
        (f"Collections path: bulk_threshold above any batch, so every upsert goes through sObject Collections "
         f"(200 records/call). Protocol minimum = ceil(Accounts/200) + ceil(Contacts/200) = {col_min} for the "
         f"records actually written. Overhead: {col['overhead']} /limits probe(s) (the budget guard reads the daily "
         f"usage before the first write). {col_record_calls - col_min} record-carrying calls above the minimum: "
         f"the engine sends in batches (batch_size 10,000 operations, ~5,000 rows), and each batch rounds its own "
         f"last Collections call per object up. Took {col['seconds']:.1f} s; bounded by "
         f"latency x calls ({col['calls']} x {LATENCY_MS} ms = {col['calls'] * LATENCY_MS / 1000:.1f} s), since the "
         f"calls are sequential, plus the sandbox's per-record validation and the catalog's bookkeeping."),
        (f"Bulk 2.0 path: bulk_threshold 0 and resource batch_size {2 * rows:,} (2 x rows: every row has at most "
         f"two operations), so a run is one job per object ({jobs} jobs). Protocol minimum per job = 5: create "
         f"job, upload CSV, close, >= 1 status poll, successfulResults; plus failedResults for a job whose poll "
         f"reports failed records ({with_failures} here). The adapter drives these steps itself, since "
         f"simple-salesforce's bulk2 upsert reads the job once more after the poll saw it complete. "
         f"bulk_poll_seconds {SETTINGS['bulk_poll_seconds']} and the sandbox completes a job on close, so one poll "
         f"suffices. Took {blk['seconds']:.1f} s, of which latency x calls is {blk['calls']} x {LATENCY_MS} ms = "
         f"{blk['calls'] * LATENCY_MS / 1000:.1f} s and the first-poll wait {jobs} x "
         f"{SETTINGS['bulk_poll_seconds']} s; the rest is the sandbox parsing and validating the CSV rows and the "
         f"catalog's bookkeeping, which grow with rows where the calls do not."),
        (f"Per-row worker: sf.<Object>.upsert('Zenskar_Id__c/<id>', payload) for Account then Contact, one at a "
         f"time, on a fresh sandbox with the same latency, for the first {sample} rows ({baseline['records']} "
         f"records, {baseline['calls']} calls, {baseline['failed']} refused, {baseline['seconds']:.1f} s); calls "
         f"and time are extrapolated linearly to {rows:,} rows (x{scale:g}): the seed's invalid rows recur every 50 "
         f"ids, so a sample of whole 50s has the full set's mix. Bounded by latency x 2 calls per row."),
        (f"Rerun (second sync, nothing changed): Collections {col['rerun_writes']} write calls "
         f"({col['rerun_calls']} API calls in all, {col['rerun_seconds']:.2f} s), Bulk {blk['rerun_writes']} "
         f"write calls ({blk['rerun_calls']} in all, {blk['rerun_seconds']:.2f} s): the planner's fingerprints skip "
         "every unchanged record, and the adapter logs in only when it has something to send."),
    ]
    return result
