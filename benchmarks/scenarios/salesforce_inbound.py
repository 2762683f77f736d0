"""Salesforce inbound: outbound-message throughput through the receiver on PostgreSQL, and a Salesforce edit
reaching the catalog with the daemon.

Throughput: SOAP outbound messages of 100 notifications each (the most Salesforce sends, as a data load does),
every notification a new id, POSTed by a load process over loopback to `/webhooks/salesforce/<token>` of
`zensync webhooks serve` (token and org checks, lxml parse, group commit to the inbox before the Ack) and, in the
same run and server stack, to a no-op endpoint that reads the body and answers the same Ack (see inbound.py's
throughput_figures). Every acknowledged notification is counted in the inbox.

Latency: `zensync dev` (sensors on, the Salesforce sandbox's outbound messages wired to the receiver); an
Account's phone is changed through the API as the sandbox's sales user, and the clock stops when the catalog row
has it (outbound message -> receiver -> inbox -> inbox sensor -> inbound job, which reads the record's current
state with zensync's login).
"""

from __future__ import annotations

import random
import subprocess
import time

from sqlalchemy import select

from zensync_pipelines.demo.tables import customers
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.mappings import MappingStore

from ..common import Context, Result, median, percentile
from .inbound import throughput_figures
from .latency import INTERVAL_SECONDS, Dev, _wait, sales_client

NAME = "salesforce_inbound"
TITLE = "Salesforce inbound: outbound-message throughput and Salesforce edit -> catalog latency"


def throughput(ctx: Context, result: Result) -> None:
    throughput_figures(ctx, result, "salesforce", ctx.size(400, 20), "Salesforce notifications/s",
                       "notifications/s", 20000, None)


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
        sales = sales_client((data / "zensync-dev.log").read_text())
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
