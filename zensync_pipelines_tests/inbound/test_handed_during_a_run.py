"""An event handed to a catalog while that catalog's inbound run is going is applied by that run, not left for the
next one: another catalog's run hands off events (engine/inbound/rows.py) with ids behind the running pass, which a
forward-only pass never met again, so they waited for the run's end, the inbox sensor's next tick and a new run's
launch. Real Stripe sandbox and SDK; the inbox on SQLite and PostgreSQL."""

import time

from sqlalchemy import update

from zensync_pipelines.engine.inbound.run import InboundRun
from zensync_pipelines.store.inbound_apply import InboundTables
from zensync_pipelines.store.inbox import InboxStore
from zensync_pipelines.store.tables import inbound_events
from zensync_pipelines.systems.stripe.current import StripeCurrentState
from zensync_pipelines.systems.stripe.inbound import StripeEvents

from .helpers import SPECS, add_customers, adapter, by_hand, customers, pull, push, row, stripe_id


class HandsOffMidRun(StripeEvents):
    """Decodes as Stripe's decoder does; while the run decodes its first batch, another catalog's run hands this
    catalog `event` (its inbox row moves here, still due, outcome handed_off), as rows.py's mark does."""

    def __init__(self, engine, event: int):
        super().__init__()
        self.engine, self.event, self.handed_at = engine, event, None

    def decode(self, row):
        if self.handed_at is None:
            with self.engine.begin() as connection:
                connection.execute(update(inbound_events).where(inbound_events.c.id == self.event).values(
                    catalog="customers", outcome="handed_off", last_error="customer is customers', not members'"))
            self.handed_at = time.monotonic()
        return super().decode(row)


def test_an_event_handed_over_behind_the_running_pass_is_applied_by_that_run(engine, stripe_sandbox_url):
    url = stripe_sandbox_url
    add_customers(engine, 2)
    push(engine, url)
    stripe = by_hand(url)
    stripe.v1.customers.update(stripe_id(engine, "customers", 1), params={"phone": "+15550001111"})
    stripe.v1.customers.update(stripe_id(engine, "customers", 2), params={"phone": "+15550002222"})
    pull(engine, url)
    due = InboxStore(engine).due("customers", "stripe")
    first = min(e["id"] for e in due if e["event_type"] == "customer.updated")
    with engine.begin() as connection:  # customer 1's edit sits in another catalog's inbox when this run starts
        connection.execute(update(inbound_events).where(inbound_events.c.id == first).values(catalog="members"))

    decoder = HandsOffMidRun(engine, first)
    report = InboundRun(SPECS["customers"], "stripe", InboundTables(engine), decoder,
                        StripeCurrentState(adapter(url)), "in-handed").run()
    assert decoder.handed_at is not None and report.failed == 0
    assert row(engine, customers, 1)["phone"] == "+15550001111"  # taken by the run that was going
    assert row(engine, customers, 2)["phone"] == "+15550002222"
    assert InboxStore(engine).due("customers", "stripe") == []  # nothing left for a sensor tick and a new run
