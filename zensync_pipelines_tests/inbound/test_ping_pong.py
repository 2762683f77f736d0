"""No ping-pong: N edits on each side -> exactly N external writes and N catalog updates, then nothing moves.

Edits alternate: a catalog edit synced out (its webhook comes back as an echo), a Stripe edit delivered by webhook
and applied (its fingerprint follows, so the next outbound run sends nothing)."""

import datetime as dt
import time

from zensync_pipelines.demo.tables import customers
from zensync_pipelines.store.inbox import InboxStore

from .helpers import add_customers, by_hand, edit, inbound, push, row, stripe_id
from .receiver import receiver
from .test_delivery import drain, point, register

N = 3


def test_n_edits_each_side_make_n_writes_each_way_and_then_nothing_moves(engine, stripe_sandbox, stripe_sandbox_url):
    url = stripe_sandbox_url
    add_customers(engine, 1)
    push(engine, url)
    stripe_sandbox.configure(webhook_duplicate_rate=0.2)
    endpoint = register(url)
    client, external = by_hand(url), stripe_id(engine, "customers", 1)
    external_writes = catalog_updates = 0
    with receiver(engine, [endpoint.secret]) as base:
        point(url, endpoint, base)
        for n in range(N):
            edit(engine, customers, 1, email=f"catalog{n}@example.com")
            sent = push(engine, url)
            external_writes += sent.updated + sent.created
            time.sleep(1.05)  # Stripe stamps whole seconds: the next edit is a later second, as a person's is
            client.v1.customers.update(external, params={"phone": f"+1888000{n}"})
            drain(stripe_sandbox)
            catalog_updates += inbound(engine, url).applied
            sent = push(engine, url)
            assert (sent.updated, sent.api_calls) == (0, 0)  # the applied edit is not sent back
        assert (external_writes, catalog_updates) == (N, N)
        # Nothing moves: more runs on both sides write nothing, and no new event appears.
        events_before = len(InboxStore(engine).rows())
        for _ in range(2):
            assert push(engine, url).api_calls == 0
            assert inbound(engine, url).applied == 0
        drain(stripe_sandbox)
        assert len(InboxStore(engine).rows()) == events_before
    final = row(engine, customers, 1)
    remote = client.v1.customers.retrieve(external)
    assert (final["email"], final["phone"]) == (remote.email, remote.phone) == (f"catalog{N - 1}@example.com",
                                                                              f"+1888000{N - 1}")
    assert all(e["status"] != "pending" for e in InboxStore(engine).rows())
    assert final["updated_at"].replace(tzinfo=dt.timezone.utc) <= dt.datetime.now(dt.timezone.utc)
