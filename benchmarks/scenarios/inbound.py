"""Inbound: webhook receiver throughput on PostgreSQL, and a Stripe change reaching the catalog with the daemon.

Throughput: signed Stripe events, each with a new id, POSTed by concurrent clients over loopback to the receiver
(signature check with the stripe SDK, one inbox INSERT committed per event before the 200) and, in the same run
and the same server stack (Starlette on uvicorn, one process), to a no-op endpoint that reads the body and answers
200. The ratio is what verification and the durable commit cost; every acknowledged event is counted in the inbox.

Latency: `zensync dev` (sensors on, receiver registered with the Stripe sandbox); a customer's phone is changed
through the SDK as a dashboard user would, and the clock stops when the catalog row has it (webhook -> inbox ->
inbox sensor -> inbound job).
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import os
import random
import subprocess
import threading
import time
from typing import Any, Iterator

import requests
import stripe
import uvicorn
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from zensync_pipelines.catalogs import load_specs
from zensync_pipelines.demo.tables import customers
from zensync_pipelines.cli.dev import SANDBOX_STRIPE_KEY
from zensync_pipelines.inbound.app import Receiver, ReceiverContext, build_app
from zensync_pipelines.inbound.stripe import build_routes
from zensync_pipelines.sandbox.stripe.webhooks import sign
from zensync_pipelines.store import migrate
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.inbox import InboxStore

from ..common import Context, Result, median, percentile
from .latency import INTERVAL_SECONDS, Dev, _free_port, _wait

NAME = "inbound"
TITLE = "Inbound: webhook receiver throughput and Stripe change -> catalog latency"
SECRET = "whsec_benchmark"
CLIENTS = 8


def _event(n: int) -> str:
    return json.dumps({"id": f"evt_bench_{n:08d}", "object": "event", "type": "customer.updated",
                       "created": 1764590400 + n, "request": {"id": None, "idempotency_key": None},
                       "data": {"object": {"id": f"cus_bench_{n % 500}", "object": "customer", "email": "a@b.co",
                                           "metadata": {"zenskar_id": str(n % 500)}}}}, indent=2)


@contextlib.contextmanager
def _serve(app: Any) -> Iterator[str]:
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    _wait(lambda: requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok, 30, "the server")
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _noop_app() -> Starlette:
    async def noop(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"stored": 0})

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/webhooks/stripe", noop, methods=["POST"]), Route("/healthz", healthz)])


def _deliver(url: str, first: int, count: int) -> tuple[float, int]:
    """POST `count` signed events from CLIENTS threads; (seconds, acknowledged)."""
    local = threading.local()

    def send(n: int) -> bool:
        if not hasattr(local, "session"):
            local.session = requests.Session()  # one kept-alive connection per client, as Stripe reuses them
        session = local.session
        body = _event(n)
        reply = session.post(f"{url}/webhooks/stripe", data=body.encode(), timeout=30, headers={
            "Content-Type": "application/json", "Stripe-Signature": sign(body, [SECRET], int(time.time()))})
        return reply.status_code == 200

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        acknowledged = sum(pool.map(send, range(first, first + count)))
    return time.perf_counter() - started, acknowledged


def throughput(ctx: Context, result: Result) -> None:
    events = ctx.size(3000, 200)
    with ctx.postgres_url() as url:
        engine = make_engine(url)
        migrate.upgrade(engine)
        app = build_app(ReceiverContext(engine, load_specs()),
                        [Receiver("stripe", lambda context: build_routes(context, [SECRET]))])
        with _serve(_noop_app()) as noop:
            _deliver(noop, 0, 50)  # warm both paths up
            noop_seconds, noop_ok = _deliver(noop, 0, events)
        with _serve(app) as receiver:
            _deliver(receiver, 10**7, 50)
            seconds, acknowledged = _deliver(receiver, 0, events)
        stored = len([e for e in InboxStore(engine).rows() if e["event_id"] < "evt_bench_1"])
        engine.dispose()
    rate, noop_rate = acknowledged / seconds, noop_ok / noop_seconds
    lost = acknowledged - stored
    result.figure("receiver deliveries/s (PostgreSQL)", round(rate, 1), "events/s", "no-op endpoint, same stack",
                  noop_rate)
    result.figure("no-op endpoint requests/s", round(noop_rate, 1), "requests/s")
    result.figure("acknowledged events missing from the inbox", lost, "events")
    result.target("acknowledged events lost", "= 0", lost, "events", lost == 0 and acknowledged == events)
    result.target("receiver throughput vs no-op", ">= 0.25x", round(rate / noop_rate, 3), "x", rate / noop_rate >= 0.25)
    result.plots.append(ctx.bar_plot("inbound_throughput.png", f"Webhook deliveries/s over loopback ({events} events, "
                                     f"{CLIENTS} clients)", ["no-op endpoint", "receiver (PostgreSQL)"],
                                     [noop_rate, rate], "requests/s"))
    result.notes.append(f"{events} events, each a new id, from {CLIENTS} client threads over loopback; server and "
                        f"clients share one process and the machine's CPUs. The receiver verifies the signature "
                        f"(stripe SDK) and commits one inbox INSERT before each 200.")


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
