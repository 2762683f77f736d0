"""How soon a handed-off event is applied when the receiving catalog's inbound run is already going.

    python -m benchmarks.handoff_pickup [--customers N]

The customers catalog, N customers synced to the Stripe sandbox (in process), every one edited by hand, the events
polled into the inbox. The oldest edit sits in another catalog's inbox when the customers' inbound run starts;
while that run decodes its first batch, the other catalog's run hands the event over (its inbox row moves to
customers, still due, outcome handed_off, as engine/inbound/rows.py marks it). Measured, per mode:

- `forward pass` (zensync before this change): the run passes over the inbox once, in id order, so the event,
  behind the pass, is left due; it is applied by the next run, which starts at the inbox sensor's next tick at
  the earliest (ZENSYNC_SENSOR_INTERVAL_SECONDS, 4 s by default) and, under a daemon, after its process loads
  the code location. Reported: the running run's seconds, the next run's own seconds, and the seconds a fresh
  process takes to load the code location (`import zensync_pipelines.definitions`, what a launched run pays first);
  the wait adds these and up to one sensor interval.
- `second pass` (now): the running run looks once more from the start; reported: seconds from the handoff to the
  event's `applied_at`.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time

from sqlalchemy import select, update

from zensync_pipelines.engine.inbound.run import InboundRun
from zensync_pipelines.sandbox.stripe import StripeSandbox
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.inbound_apply import InboundTables
from zensync_pipelines.store.inbox import InboxStore
from zensync_pipelines.store.tables import inbound_events
from zensync_pipelines.systems.stripe.current import StripeCurrentState
from zensync_pipelines.store import migrate
from zensync_pipelines_tests.inbound.helpers import SPECS, add_customers, adapter, by_hand, pull, push, stripe_id
from zensync_pipelines_tests.inbound.test_handed_during_a_run import HandsOffMidRun


class ForwardPassOnly(InboundRun):
    """The run as it was: one pass in id order (the loop before the second pass)."""

    def run(self, max_events: int = 100_000):
        after, seen = 0, 0
        while seen < max_events:
            rows = self.tables.due(self.spec.name, self.system, self.batch_size, after)
            if not rows:
                break
            after, seen = rows[-1]["id"], seen + len(rows)
            self._batch(rows)
        return self.report


def scenario(folder: str, count: int, run_class: type) -> dict[str, float]:
    engine = make_engine(f"sqlite:///{folder}/catalog.db")
    migrate.upgrade(engine)
    with StripeSandbox(rate_limit=None) as sandbox:
        url = sandbox.url
        add_customers(engine, count)
        for _ in range(5):  # a request lost on a loaded machine fails its row: the next run retries it
            if not push(engine, url).failed:
                break
        for i in range(1, count + 1):
            by_hand(url).v1.customers.update(stripe_id(engine, "customers", i), params={"phone": f"+1666{i:07d}"})
        pull(engine, url)
        first = min(e["id"] for e in InboxStore(engine).due("customers", "stripe")
                    if e["event_type"] == "customer.updated")
        with engine.begin() as connection:
            connection.execute(update(inbound_events).where(inbound_events.c.id == first).values(catalog="members"))
        decoder = HandsOffMidRun(engine, first)
        started = time.monotonic()
        run_class(SPECS["customers"], "stripe", InboundTables(engine), decoder, StripeCurrentState(adapter(url)),
                  "running").run()  # one batch of 500: the handoff comes while it is decoded, behind the pass
        ran = time.monotonic() - started
        handed_wall = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=time.monotonic() - decoder.handed_at)
        figures = {"running run s": ran}
        if any(e["id"] == first for e in InboxStore(engine).due("customers", "stripe")):
            started = time.monotonic()
            InboundRun(SPECS["customers"], "stripe", InboundTables(engine), HandsOffMidRun(engine, 0),
                       StripeCurrentState(adapter(url)), "next").run()
            figures["next run s"] = time.monotonic() - started
        with engine.connect() as connection:
            applied = connection.execute(select(inbound_events.c.applied_at).where(
                inbound_events.c.id == first)).scalar()
        applied = applied.replace(tzinfo=dt.timezone.utc) if applied.tzinfo is None else applied
        figures["handoff to applied s"] = (applied - handed_wall).total_seconds()
    engine.dispose()
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=40)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f}")
    for name, run_class in (("forward pass", ForwardPassOnly), ("second pass", InboundRun)):
        with tempfile.TemporaryDirectory() as folder:
            figures = scenario(folder, args.customers, run_class)
        print(f"{name}: " + ", ".join(f"{k} {v:.2f}" for k, v in figures.items()))
    started = time.monotonic()
    subprocess.run([sys.executable, "-c", "import zensync_pipelines.definitions"], check=True)
    print(f"a launched run's code location load: {time.monotonic() - started:.2f} s")
    print(f"load average {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
