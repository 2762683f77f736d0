"""Salesforce inbound: outbound-message throughput through the receiver on PostgreSQL, and a Salesforce edit
reaching the catalog with the daemon.

Throughput: SOAP outbound messages of NOTIFICATIONS notifications each, every notification a new id, POSTed by
concurrent clients over loopback to `/webhooks/salesforce/<token>` (token and org checks, defusedxml parse, one
multi-row inbox INSERT committed before the Ack) and, in the same run and server stack (Starlette on uvicorn),
to a no-op endpoint that reads the body and answers the same Ack. Every acknowledged notification is counted in
the inbox.

Latency: `zensync dev` (sensors on, the Salesforce sandbox's outbound messages wired to the receiver); an
Account's phone is changed through the API as the sandbox's sales user, and the clock stops when the catalog row
has it (outbound message -> receiver -> inbox -> inbox sensor -> inbound job, which reads the record's current
state with zensync's login).
"""

from __future__ import annotations

import concurrent.futures
import random
import re
import subprocess
import threading
import time

import requests
from simple_salesforce import Salesforce
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from zensync_pipelines.catalogs import load_specs
from zensync_pipelines.demo.tables import customers
from zensync_pipelines.inbound.app import Receiver, ReceiverContext, build_app
from zensync_pipelines.inbound.salesforce import build_routes
from zensync_pipelines.sandbox.salesforce.auth import ORG_ID, SALES_USER_ID
from zensync_pipelines.store import migrate
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.inbox import InboxStore
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines.systems.salesforce.outbound import CONTENT_TYPE, ack
from zensync_pipelines.systems.salesforce.outbound_auth import OutboundSettings

from ..common import Context, Result, median, percentile
from .inbound import _serve
from .latency import INTERVAL_SECONDS, Dev, _wait

NAME = "salesforce_inbound"
TITLE = "Salesforce inbound: outbound-message throughput and Salesforce edit -> catalog latency"
TOKEN = "benchmark-token"
CLIENTS = 8
NOTIFICATIONS = 10  # per message: a busy org batches a few edits per message


def _id(prefix: str, n: int) -> str:
    return f"{prefix}{n:012d}"  # a 15-character Salesforce id


def _message(first: int) -> bytes:
    notifications = "".join(
        f"<Notification><Id>{_id('04l', n)}</Id><sObject xsi:type=\"sf:Account\" "
        f"xmlns:sf=\"urn:sobject.enterprise.soap.sforce.com\"><sf:Id>{_id('001', n % 500)}</sf:Id>"
        f"<sf:Phone>+1 555 {n % 10000:04d}</sf:Phone><sf:SystemModstamp>2026-12-01T10:00:00.000Z</sf:SystemModstamp>"
        f"</sObject></Notification>" for n in range(first, first + NOTIFICATIONS))
    return ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
            '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
            f"<OrganizationId>{ORG_ID}</OrganizationId><ActionId>04k000000000001AAA</ActionId>"
            '<SessionId xsi:nil="true"/><EnterpriseUrl>https://example/</EnterpriseUrl>'
            f"<PartnerUrl>https://example/</PartnerUrl>{notifications}</notifications></soapenv:Body>"
            "</soapenv:Envelope>").encode()


def _noop_app() -> Starlette:
    async def noop(request: Request) -> Response:
        await request.body()
        return Response(ack(), media_type=CONTENT_TYPE)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/webhooks/salesforce/{token}", noop, methods=["POST"]),
                             Route("/healthz", healthz)])


def _deliver(url: str, first: int, messages: int) -> tuple[float, int]:
    """POST `messages` messages from CLIENTS threads; (seconds, notifications acknowledged)."""
    local = threading.local()

    def send(m: int) -> int:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        reply = local.session.post(f"{url}/webhooks/salesforce/{TOKEN}", data=_message(first + m * NOTIFICATIONS),
                                   headers={"Content-Type": CONTENT_TYPE}, timeout=30)
        return NOTIFICATIONS if reply.status_code == 200 and b"<Ack>true</Ack>" in reply.content else 0

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(CLIENTS) as pool:
        acknowledged = sum(pool.map(send, range(messages)))
    return time.perf_counter() - started, acknowledged


def throughput(ctx: Context, result: Result) -> None:
    messages = ctx.size(600, 30)
    with ctx.postgres_url() as url:
        engine = make_engine(url)
        migrate.upgrade(engine)
        settings = OutboundSettings(ORG_ID, TOKEN)
        app = build_app(ReceiverContext(engine, load_specs()),
                        [Receiver("salesforce", lambda context: build_routes(context, settings))])
        with _serve(_noop_app()) as noop:
            _deliver(noop, 0, 10)
            noop_seconds, noop_ok = _deliver(noop, 0, messages)
        with _serve(app) as receiver:
            _deliver(receiver, 10**9, 10)  # warm-up, ids far from the measured ones
            seconds, acknowledged = _deliver(receiver, 0, messages)
        measured = [e for e in InboxStore(engine).rows(system="salesforce") if e["event_id"] < _id("04l", 10**9)]
        stored = len(measured)
        engine.dispose()
    rate, noop_rate = acknowledged / seconds, noop_ok / noop_seconds
    lost = acknowledged - stored
    result.figure("notifications/s through /webhooks/salesforce (PostgreSQL)", round(rate, 1), "notifications/s",
                  "no-op endpoint, same stack", noop_rate)
    result.figure("no-op endpoint notifications/s", round(noop_rate, 1), "notifications/s")
    result.figure("acknowledged notifications missing from the inbox", lost, "notifications")
    result.target("acknowledged notifications lost", "= 0", lost, "notifications",
                  lost == 0 and acknowledged == messages * NOTIFICATIONS)
    result.target("endpoint throughput vs no-op", ">= 0.25x", round(rate / noop_rate, 3), "x",
                  rate / noop_rate >= 0.25)
    result.plots.append(ctx.bar_plot("salesforce_inbound_throughput.png",
                                     f"Outbound-message notifications/s over loopback ({messages} messages of "
                                     f"{NOTIFICATIONS})", ["no-op endpoint", "receiver (PostgreSQL)"],
                                     [noop_rate, rate], "notifications/s"))
    result.notes.append(f"{messages} messages of {NOTIFICATIONS} notifications, each a new id, from {CLIENTS} "
                        "client threads over loopback; server and clients share one process and the machine's "
                        "CPUs. The receiver checks the token and the org, parses with defusedxml and commits one "
                        "multi-row inbox INSERT before each Ack.")


def _sales_client(log: str) -> Salesforce:
    """The sandbox's sales user, found from the command zensync dev printed (its URL and CA file)."""
    url = re.search(r"salesforce-edit --url (\S+) --ca-file (\S+)", log)
    assert url, "zensync dev printed no salesforce-edit command"
    http = requests.Session()
    http.verify, http.trust_env = url.group(2), False
    token = http.post(f"{url.group(1)}/_sandbox/session", json={"user_id": SALES_USER_ID}, timeout=30).json()
    return Salesforce(instance_url=url.group(1), session_id=token["access_token"], session=http)


def latency(ctx: Context, result: Result) -> None:
    changes = ctx.size(12, 2)
    data = ctx.work / "sf-latency"  # short: dagster dev puts unix sockets (107 characters at most) in there
    subprocess.run(["rm", "-rf", str(data)], check=True)
    data.mkdir(parents=True)
    dev = Dev(data, INTERVAL_SECONDS)
    samples = []
    try:
        engine = make_engine(dev.database_url)

        def linked() -> dict[str, str]:
            return {m["internal_id"]: m["external_id"] for m in MappingStore(engine).rows("customers", "salesforce")
                    if m["object_type"] == "Account" and m["status"] == "synced" and m["external_id"]}

        ids = _wait(lambda: len(found := linked()) >= 30 and found, 300, "the seed reaching Salesforce", 1.0)
        _wait(dev.idle, 300, "the first runs finishing", 1.0)
        sales = _sales_client((data / "zensync-dev.log").read_text())
        rng = random.Random(12)
        for n in range(changes):
            row = sorted(ids, key=int)[n % len(ids)]
            phone = f"+1 888 {n:07d}"
            time.sleep(rng.uniform(0, INTERVAL_SECONDS))
            changed = time.time()
            sales.Account.update(ids[row], {"Phone": phone})

            def arrived(row: str = row, phone: str = phone) -> bool:
                with engine.connect() as connection:
                    return connection.execute(select(customers.c.phone).where(customers.c.id == int(row))) \
                        .scalar() == phone

            _wait(arrived, 120, f"edit {n} reaching the catalog", 0.05)
            samples.append(round(time.time() - changed, 3))
            ctx.log(f"Salesforce edit {n + 1}/{changes} -> catalog in {samples[-1]:.1f} s")
            _wait(dev.idle, 300, "runs finishing", 0.5)
        engine.dispose()
    finally:
        dev.stop()
    p50, p95 = median(samples), percentile(samples, 0.95)
    result.figure("p50 Salesforce edit -> catalog row", p50, "s", f"sensor interval ({INTERVAL_SECONDS} s)",
                  INTERVAL_SECONDS)
    result.figure("p95 Salesforce edit -> catalog row", p95, "s", f"sensor interval ({INTERVAL_SECONDS} s)",
                  INTERVAL_SECONDS)
    result.target("Salesforce edit -> catalog p50", "< 10 s", p50, "s", p50 < 10)
    result.data["latency_samples"] = samples
    result.notes.append(f"{changes} sales-user edits of an Account's Phone one at a time, at a random moment within "
                        f"a sensor interval ({INTERVAL_SECONDS} s); `zensync dev` on SQLite: outbound message "
                        "(sandbox default delivery) -> receiver -> inbox -> inbox sensor -> inbound run (launched as "
                        "a new run, one SOQL IN for the record's current state).")


def run(ctx: Context) -> Result:
    result = Result(NAME, TITLE)
    throughput(ctx, result)
    latency(ctx, result)
    return result
