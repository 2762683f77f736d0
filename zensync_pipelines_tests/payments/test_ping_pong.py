"""No ping-pong on payments through real webhooks (SQLite and PostgreSQL): Stripe delivers every charge event
twice (and polling sees them a third time), yet a card payment makes one payments row and one Payment__c, each of
N refunds updates the row once and writes the Payment__c once, zensync never calls Stripe to write, and further
runs on either side move nothing."""

from __future__ import annotations

from collections import Counter

from zensync_pipelines.store.inbox import InboxStore
from zensync_pipelines.systems.stripe.inbound import event_types
from zensync_pipelines_tests.inbound.helpers import by_hand, pull, push
from zensync_pipelines_tests.inbound.receiver import receiver
from zensync_pipelines_tests.inbound.test_delivery import drain, point

from . import test_payments_e2e
from .helpers import charge_of, inbound_payments, pay, payment_rows, world
from .test_payments_e2e import remote_payments, to_salesforce

salesforce = test_payments_e2e.salesforce  # that module's fixture: a Salesforce sandbox and a client of it

N = 3


def stripe_writes(sandbox) -> dict[str, int]:
    """Requests that could change something in Stripe, by route, since the counters were last reset."""
    return {route: n for route, n in sandbox.counters.snapshot().items() if not route.startswith("GET ")}


def test_duplicate_deliveries_make_one_row_and_one_write_per_real_change(engine, stripe_sandbox, stripe_sandbox_url,
                                                                        salesforce):
    url, (resource, sf) = stripe_sandbox_url, salesforce
    world(engine, url)
    for catalog in ("customers", "invoices"):
        to_salesforce(engine, resource, catalog, f"sf-{catalog}")
    stripe_sandbox.configure(webhook_duplicate_rate=1.0)  # every delivered event is delivered a second time
    endpoint = by_hand(url).v1.webhook_endpoints.create({"url": "http://127.0.0.1:9/",
                                                         "enabled_events": event_types(["charge"])})
    catalog_writes = payment_c_writes = 0
    with receiver(engine, [endpoint.secret]) as base:
        point(url, endpoint, base)
        charge = charge_of(url, pay(engine, url, 1).id)
        drain(stripe_sandbox)
        pull(engine, url)  # polling sees the same events again
        stripe_sandbox.counters.reset()
        first = inbound_payments(engine, url)
        assert (first.applied, first.failed) == (1, 0)
        created = to_salesforce(engine, resource, "payments", "sf-pay-0")
        catalog_writes, payment_c_writes = first.applied, created.created
        for n in range(1, N + 1):
            by_hand(url).v1.refunds.create({"charge": charge.id, "amount": 100})
            drain(stripe_sandbox)
            pull(engine, url)
            stripe_sandbox.counters.reset()
            applied = inbound_payments(engine, url)
            assert (applied.applied, applied.failed) == (1, 0)  # the refund, once, however often it came
            assert [r["amount_refunded"] for r in payment_rows(engine)] == [100 * n]
            sent = to_salesforce(engine, resource, "payments", f"sf-pay-{n}")
            assert (sent.created, sent.updated, sent.failed) == (0, 1, 0)
            catalog_writes += applied.applied
            payment_c_writes += sent.updated
            assert stripe_writes(stripe_sandbox) == {}  # inbound-only: reading a charge never writes one
            assert push(engine, url, "payments").api_calls == 0  # and no outbound run to Stripe calls it
            again = to_salesforce(engine, resource, "payments", f"sf-again-{n}")
            assert (again.updated, again.api_calls) == (0, 0)
        assert (catalog_writes, payment_c_writes) == (1 + N, 1 + N)

        delivered = Counter(a["event"] for a in stripe_sandbox.webhooks.attempts if a["ok"])
        assert delivered and all(n >= 2 for n in delivered.values())  # the duplicates did arrive
        events_before = len(InboxStore(engine).rows(catalog="payments"))
        for _ in range(2):  # nothing moves: more runs and more polls change and call nothing
            pull(engine, url)
            rerun = inbound_payments(engine, url)
            assert (rerun.applied, rerun.fetches) == (0, 0)
            assert to_salesforce(engine, resource, "payments", "sf-rest").api_calls == 0
        drain(stripe_sandbox)
        assert len(InboxStore(engine).rows(catalog="payments")) == events_before
    [row] = payment_rows(engine)
    remote = remote_payments(sf)
    assert list(remote) == [str(row["id"])]  # one Payment__c, however many deliveries
    assert (remote[str(row["id"])]["Amount_Refunded__c"], row["amount_refunded"]) == (N * 1.0, N * 100)
    assert all(e["status"] != "pending" for e in InboxStore(engine).rows(catalog="payments"))
