"""Webhooks as the sandbox delivers them (signed, duplicated, shuffled, retried) through the receiver over HTTP,
then applied: every acknowledged event applied exactly once, even across a receiver killed with kill -9."""

import os
import signal
import subprocess
import sys
import threading
import time

from zensync_pipelines.demo.tables import customers
from zensync_pipelines.store.inbox import InboxStore
from zensync_pipelines_tests.conftest import free_port, wait_for_port

from .helpers import add_customers, by_hand, inbound, push, row, stripe_id
from .receiver import receiver

EVENTS = ["customer.created", "customer.updated", "customer.deleted"]


def register(url: str):
    return by_hand(url).v1.webhook_endpoints.create(params={"url": "http://127.0.0.1:9/", "enabled_events": EVENTS})


def point(url: str, endpoint, base: str) -> None:
    by_hand(url).v1.webhook_endpoints.update(endpoint.id, params={"url": f"{base}/webhooks/stripe"})


def drain(sandbox, timeout: float = 60) -> None:
    """Until nothing is queued and no attempt was made for a while (a delivery in flight is off the queue)."""
    deadline, seen, quiet_since = time.monotonic() + timeout, -1, time.monotonic()
    while True:
        assert time.monotonic() < deadline, "deliveries still queued"
        if sandbox.webhooks.pending() or len(sandbox.webhooks.attempts) != seen:
            seen, quiet_since = len(sandbox.webhooks.attempts), time.monotonic()
        elif time.monotonic() - quiet_since > 0.5:
            return
        time.sleep(0.05)


def acknowledged(sandbox) -> set[str]:
    return {a["event"] for a in sandbox.webhooks.attempts if a["ok"]}


def test_duplicated_and_shuffled_deliveries_end_in_stripes_state(engine, stripe_sandbox, stripe_sandbox_url):
    url = stripe_sandbox_url
    add_customers(engine, 3)
    push(engine, url)
    stripe_sandbox.configure(webhook_duplicate_rate=0.2, webhook_out_of_order=True, webhook_paused=True)
    endpoint = register(url)
    client = by_hand(url)
    ids = {n: stripe_id(engine, "customers", n) for n in (1, 2, 3)}
    with receiver(engine, [endpoint.secret]) as base:
        point(url, endpoint, base)
        for round_ in range(6):
            for n, external in ids.items():
                client.v1.customers.update(external, params={"phone": f"+1{n}00{round_}",
                                                             "address": {"city": f"City {n}.{round_}"}})
        stripe_sandbox.configure(webhook_paused=False)
        drain(stripe_sandbox)
    attempts = stripe_sandbox.webhooks.attempts
    assert any(a["duplicate"] for a in attempts) and all(a["ok"] for a in attempts), attempts
    stored = InboxStore(engine).rows(event_type="customer.updated")
    assert len(stored) == 18 == len({e["event_id"] for e in stored})  # duplicates stored nothing
    report = inbound(engine, url)
    assert report.failed == 0
    for n, external in ids.items():
        current = client.v1.customers.retrieve(external)
        assert (row(engine, customers, n)["phone"], row(engine, customers, n)["city"]) == \
            (current.phone, current.address.city) == (f"+1{n}005", f"City {n}.5")
    assert push(engine, url).api_calls == 0


def test_a_receiver_killed_mid_delivery_loses_no_acknowledged_event(postgres_url, stripe_sandbox, stripe_sandbox_url,
                                                                       spawn):
    from zensync_pipelines.store import migrate
    from zensync_pipelines.store.db import make_engine

    url = stripe_sandbox_url
    engine = make_engine(postgres_url)
    migrate.upgrade(engine)
    add_customers(engine, 5)
    push(engine, url)
    stripe_sandbox.configure(webhook_retry_base=0.1, webhook_max_attempts=20)
    endpoint = register(url)
    port = free_port()
    env = dict(os.environ, ZENSYNC_DATABASE_URL=postgres_url, STRIPE_WEBHOOK_SECRET=endpoint.secret)
    command = [sys.executable, "-m", "zensync_pipelines.cli", "webhooks", "serve", "--port", str(port)]

    def start():
        process = spawn(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(port, process)
        return process

    process = start()
    point(url, endpoint, f"http://127.0.0.1:{port}")
    ids = [stripe_id(engine, "customers", n) for n in range(1, 6)]
    client = by_hand(url)

    def edits():
        for round_ in range(8):
            for n, external in enumerate(ids, start=1):
                client.v1.customers.update(external, params={"phone": f"+1{n}5{round_:02d}"})

    writer = threading.Thread(target=edits)
    writer.start()
    deadline = time.monotonic() + 30
    while len(acknowledged(stripe_sandbox)) < 10:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    process.send_signal(signal.SIGKILL)  # kill -9, while deliveries and edits go on
    process.wait()
    killed_at = len(acknowledged(stripe_sandbox))
    time.sleep(0.3)  # deliveries fail meanwhile, and are retried
    process = start()
    try:
        writer.join()
        drain(stripe_sandbox)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
    assert any(a["status"] is None for a in stripe_sandbox.webhooks.attempts)  # refused while it was down
    stored = {e["event_id"]: e for e in InboxStore(engine).rows(event_type="customer.updated")}
    assert acknowledged(stripe_sandbox) >= set(stored) and killed_at < len(stored)
    assert {e for e in acknowledged(stripe_sandbox) if e in stored} == set(stored)
    assert len(stored) == 40  # every edit's event acknowledged, once stored
    report = inbound(engine, url)
    assert report.failed == 0
    events = InboxStore(engine).rows(event_type="customer.updated")
    assert all(e["status"] in ("applied", "ignored") and e["attempts"] == 1 for e in events)  # applied once
    for n, external in enumerate(ids, start=1):
        assert row(engine, customers, n)["phone"] == client.v1.customers.retrieve(external).phone == f"+1{n}507"
    engine.dispose()
