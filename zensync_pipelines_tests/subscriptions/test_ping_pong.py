"""No ping-pong on subscriptions through real webhooks: N quantity edits in the catalog and N "cancel at period end"
toggles in the Stripe dashboard make exactly N writes each way, then nothing moves."""

import time

from zensync_pipelines.store.inbox import InboxStore
from zensync_pipelines_tests.inbound.helpers import by_hand, inbound, push
from zensync_pipelines_tests.inbound.receiver import receiver
from zensync_pipelines.systems.stripe.inbound import event_types
from zensync_pipelines_tests.inbound.test_delivery import drain, point

from .helpers import add_catalog, edit, sub_row
from .test_stripe_subscriptions import subscription

N = 3


def register(url: str):
    return by_hand(url).v1.webhook_endpoints.create(params={"url": "http://127.0.0.1:9/",
                                                            "enabled_events": event_types(["subscription"])})


def test_n_edits_each_side_make_n_writes_each_way_and_then_nothing_moves(engine, stripe_sandbox, stripe_sandbox_url):
    url = stripe_sandbox_url
    add_catalog(engine, 1)
    for catalog in ("customers", "plans", "subscriptions"):
        push(engine, url, catalog)
    stripe_sandbox.configure(webhook_duplicate_rate=0.2)
    endpoint = register(url)
    client, external = by_hand(url), subscription(url, engine, 1).id
    external_writes = catalog_updates = 0
    with receiver(engine, [endpoint.secret]) as base:
        point(url, endpoint, base)
        for n in range(N):
            edit(engine, 1, quantity=10 + n)
            sent = push(engine, url, "subscriptions")
            external_writes += sent.updated
            time.sleep(1.05)  # Stripe stamps whole seconds: the person's click is a later second
            client.v1.subscriptions.update(external, {"cancel_at_period_end": n % 2 == 0})
            drain(stripe_sandbox)
            catalog_updates += inbound(engine, url, "subscriptions").applied
            again = push(engine, url, "subscriptions")
            assert (again.updated, again.api_calls) == (0, 0)  # the applied edit is not sent back
        assert (external_writes, catalog_updates) == (N, N)
        events_before = len(InboxStore(engine).rows())
        for _ in range(2):
            assert push(engine, url, "subscriptions").api_calls == 0
            assert inbound(engine, url, "subscriptions").applied == 0
        drain(stripe_sandbox)
        assert len(InboxStore(engine).rows()) == events_before
    final, remote = sub_row(engine, 1), client.v1.subscriptions.retrieve(external)
    assert (final["quantity"], final["cancel_at_period_end"]) == (remote["items"].data[0].quantity,
                                                                  remote.cancel_at_period_end) == (12, True)
    assert all(e["status"] != "pending" for e in InboxStore(engine).rows())
