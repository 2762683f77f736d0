"""Inbound: webhook receiver throughput on PostgreSQL, and a Stripe change reaching the catalog with the daemon.

Throughput: signed Stripe events, each with a new id, POSTed by a load process (8 and 32 kept-alive connections)
over loopback to `zensync webhooks serve` (signature check with the stripe SDK, group commit to the inbox before
each 200) and, in the same run and the same server stack (uvicorn with the receiver's protocol, Starlette, the
same number of workers), to a no-op endpoint that reads the body and answers 200, and to the commit floor (the
no-op plus the receiver's durable group commit, nothing else: benchmarks/commit_floor.py). The ratio is what
verification and the durable commit cost; the floor splits it into the commit's share (no-op -> floor, the part no
receiver that acknowledges only committed events can avoid) and the receiver's own work (floor -> receiver); the
receiver's CPU per event is read from /proc; every acknowledged event is counted in the inbox.

Latency: `zensync dev` (sensors on, receiver registered with the Stripe sandbox); a customer's phone is changed
through the SDK as a dashboard user would, and the clock stops when the catalog row has it (webhook -> inbox ->
inbox sensor -> inbound job).
"""

from __future__ import annotations

import os
import random
import subprocess
import time
from typing import Any, Optional

import stripe
from sqlalchemy import select

from zensync_pipelines.demo.tables import customers
from zensync_pipelines.cli.dev import SANDBOX_STRIPE_KEY
from zensync_pipelines.store import migrate
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.inbox import ENVELOPE, InboxStore
from zensync_pipelines.store.inbox_envelopes import split_envelopes
from zensync_pipelines.store.tables import inbound_events
from zensync_pipelines.systems.salesforce import outbound_envelope

from ..common import Context, Result, median, percentile
from ..receiver_load import NOTIFICATIONS, measure
from .latency import INTERVAL_SECONDS, Dev, _free_port, _wait

NAME = "inbound"
TITLE = "Inbound: webhook receiver throughput and Stripe change -> catalog latency"
CLIENT_COUNTS = (8, 32)
WORKER_COUNTS = (1, 2)
REPEATS = 3


def throughput_figures(ctx: Context, result: Result, kind: str, count: int, label: str, unit: str,
                       goal_rate: float, goal_ratio: Optional[float]) -> None:
    """The receiver against the no-op endpoint and the commit floor (same server stack, same workers), each
    process started afresh, at CLIENT_COUNTS connections and WORKER_COUNTS workers, REPEATS times each on a fresh
    PostgreSQL schema; medians, the receiver's own CPU per event, and every acknowledged event counted in the
    inbox."""
    per = NOTIFICATIONS if kind == "salesforce" else 1
    rows, lost, unanswered = [], 0, 0
    for workers in WORKER_COUNTS:
        for clients in CLIENT_COUNTS:
            runs = []
            for _ in range(ctx.size(REPEATS, 1)):
                with ctx.postgres_url() as url:
                    engine = make_engine(url)
                    migrate.upgrade(engine)
                    found = measure(url, kind, count, clients, workers, _free_port(), str(ctx.work))
                    if kind == "salesforce":  # what the inbox job does first: the envelopes become notifications
                        found["split_seconds"] = split_all(engine)
                    stored = sum(1 for e in InboxStore(engine).rows() if e["event_id"] < ("evt_bench_1" if
                                 kind == "stripe" else "04l001"))
                    engine.dispose()
                lost += found["receiver"]["acknowledged"] - stored
                unanswered += sum(found[who]["statuses"].get("unanswered", 0)
                                  for who in ("noop", "floor", "receiver"))
                runs.append(found)
            rate = median([r["receiver"]["rate"] for r in runs])
            noop = median([r["noop"]["rate"] for r in runs])
            floor = median([r["floor"]["rate"] for r in runs])
            cpu = median([r["receiver"]["cpu_ms_per_event"] for r in runs])
            rows.append((workers, clients, noop, floor, rate))
            if kind == "salesforce":
                split = median([count * per / r["split_seconds"] for r in runs])
                ctx.log(f"inbox job's split of the envelopes: {split:.0f} {unit}")
                result.figure(f"{label}, {workers} worker(s), {clients} clients: the inbox job splitting the "
                              f"envelopes (PostgreSQL)", round(split, 1), unit)
            ctx.log(f"{kind}: {workers} worker(s), {clients} clients: {rate:.0f} {unit} (no-op {noop:.0f}, "
                    f"commit floor {floor:.0f}), {cpu:.3f} ms CPU/event")
            name = f"{label}, {workers} worker(s), {clients} clients"
            result.figure(f"{name} (PostgreSQL)", round(rate, 1), unit, "no-op endpoint, same stack", noop)
            result.figure(f"{name}: commit floor (no-op + durable commit only)", round(floor, 1), unit,
                          "no-op endpoint, same stack", noop)
            result.figure(f"{name}: receiver against the commit floor", round(rate, 1), unit, "commit floor", floor)
            result.figure(f"{name}: receiver CPU per event", round(cpu, 3), "ms")
            met = rate >= goal_rate and (goal_ratio is None or rate / noop >= goal_ratio)
            goal = f">= {goal_rate:,.0f}" + (f" and >= {goal_ratio}x no-op" if goal_ratio else "")
            result.target(name, goal, round(rate, 1), unit, met)
    result.target("acknowledged events lost", "= 0", lost, "events", lost == 0)
    # Each client stops at a delivery left unanswered for ANSWER_SECONDS (a receiver that hangs is a defect, not slow).
    result.target("deliveries left unanswered", "= 0", unanswered, "deliveries", unanswered == 0)
    result.plots.append(ctx.bar_plot(f"{NAME if kind == 'stripe' else 'salesforce_inbound'}_throughput.png",
                                     f"{label}: no-op endpoint, commit floor and receiver (PostgreSQL)",
                                     [f"{w}w {c}c {who}" for w, c, *_ in rows
                                      for who in ("no-op", "floor", "receiver")],
                                     [v for _, _, *rates in rows for v in rates], unit))
    result.notes.append(f"{count} deliveries ({per} event(s) each), each a new id, after a warm-up, from a load "
                        f"process of its own (asyncio on raw sockets, kept-alive connections) over loopback, to "
                        f"`zensync webhooks serve --workers N`, to the no-op endpoint on the same server stack "
                        f"(benchmarks/noop_receiver.py) and to the commit floor, the no-op plus the receiver's "
                        f"durable group commit and nothing else (benchmarks/commit_floor.py); medians of "
                        f"{ctx.size(REPEATS, 1)} runs. CPU per event is "
                        f"the receiver's processes' user+system time over the run (/proc), PostgreSQL's not "
                        f"included. Load generator, receiver and PostgreSQL share the machine's 2 cores (and other "
                        f"work on it: load average {', '.join(f'{v:.1f}' for v in os.getloadavg())}).")


def split_all(engine: Any) -> float:
    """Split every stored Salesforce envelope as the inbox job does before applying (store/inbox_envelopes.py);
    the seconds it took."""
    started = time.perf_counter()
    with engine.connect() as connection:
        catalogs = connection.execute(select(inbound_events.c.catalog).where(
            inbound_events.c.event_type == ENVELOPE).distinct()).scalars().all()
    for catalog in catalogs:
        split_envelopes(InboxStore(engine), catalog, "salesforce", outbound_envelope.split)
    return time.perf_counter() - started


def throughput(ctx: Context, result: Result) -> None:
    throughput_figures(ctx, result, "stripe", ctx.size(6000, 300), "Stripe events/s", "events/s", 2000, 0.4)


def latency(ctx: Context, result: Result) -> None:
    changes = ctx.size(12, 2)
    data = ctx.work / "inbound-latency"
    subprocess.run(["rm", "-rf", str(data)], check=True)
    data.mkdir(parents=True)
    dev = Dev(data, INTERVAL_SECONDS)
    samples = []
    try:
        client = stripe.StripeClient(SANDBOX_STRIPE_KEY, base_addresses={"api": dev.stripe_url})
        engine = make_engine(dev.database_url)

        def linked() -> dict[str, str]:
            listed = client.v1.customers.list(params={"limit": 100}).auto_paging_iter()
            return {c.metadata["zenskar_id"]: c.id for c in listed}

        ids = _wait(lambda: len(found := linked()) >= 30 and found, 300, "the seed reaching Stripe", 1.0)
        _wait(dev.idle, 300, "the first runs finishing", 1.0)
        rng = random.Random(11)
        for n in range(changes):
            row = sorted(ids, key=int)[n % len(ids)]
            phone = f"+1777{n:07d}"
            time.sleep(rng.uniform(0, INTERVAL_SECONDS))
            changed = time.time()
            client.v1.customers.update(ids[row], params={"phone": phone})

            def arrived(row: str = row, phone: str = phone) -> bool:
                with engine.connect() as connection:
                    return connection.execute(select(customers.c.phone).where(customers.c.id == int(row))) \
                        .scalar() == phone

            _wait(arrived, 120, f"change {n} reaching the catalog", 0.05)
            samples.append(round(time.time() - changed, 3))
            ctx.log(f"Stripe change {n + 1}/{changes} -> catalog in {samples[-1]:.1f} s")
            _wait(dev.idle, 300, "runs finishing", 0.5)
        engine.dispose()
    finally:
        dev.stop()
    p50, p95 = median(samples), percentile(samples, 0.95)
    result.figure("p50 Stripe change -> catalog row", p50, "s", f"sensor interval ({INTERVAL_SECONDS} s)",
                  INTERVAL_SECONDS)
    result.figure("p95 Stripe change -> catalog row", p95, "s", f"sensor interval ({INTERVAL_SECONDS} s)",
                  INTERVAL_SECONDS)
    result.target("Stripe change -> catalog p50", "< 10 s", p50, "s", p50 < 10)
    result.data["latency_samples"] = samples
    result.notes.append(f"{changes} dashboard-style edits (no zensync key) one at a time, at a random moment within "
                        f"a sensor interval ({INTERVAL_SECONDS} s); `zensync dev` on SQLite: webhook -> receiver -> "
                        f"inbox -> inbox sensor -> inbound run (queued, launched as a new run). Load average at the "
                        f"end: {', '.join(f'{v:.1f}' for v in os.getloadavg())} (a run launch is a new process: its "
                        f"start-up dominates on a loaded machine).")


def run(ctx: Context) -> Result:
    result = Result(NAME, TITLE)
    throughput(ctx, result)
    latency(ctx, result)
    return result
