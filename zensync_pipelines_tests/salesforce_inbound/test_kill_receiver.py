"""`zensync webhooks serve` killed with SIGKILL while the org streams outbound messages: whatever was in flight
is not acknowledged, so the org resends it to the restarted receiver; every notification ends in the inbox once,
and the inbound run applies each sales edit exactly once."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from zensync_pipelines.sandbox.salesforce.auth import ORG_ID
from zensync_pipelines.store.inbox import ENVELOPE, InboxStore
from zensync_pipelines_tests.conftest import free_port, wait_for_port
from zensync_pipelines_tests.salesforce.conftest import resource_for, run_engine, seeded
from zensync_pipelines_tests.sandbox_salesforce.conftest import wait_until

from .test_inbound_customers import inbound, linked, row

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "kill-t0ken"
EDITS = 15
AFTER_THE_KILL = 5  # edits made while the receiver is down: they are certainly unacknowledged then


def serve(spawn, database_url: str, port: int) -> subprocess.Popen:
    env = dict(os.environ, ZENSYNC_DATABASE_URL=database_url, SALESFORCE_ORGANIZATION_ID=ORG_ID,
               SALESFORCE_OUTBOUND_TOKEN=TOKEN,
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    env.pop("STRIPE_WEBHOOK_SECRET", None)  # Salesforce alone mounts its route
    process = spawn([sys.executable, "-m", "zensync_pipelines.cli", "webhooks", "serve", "--port", str(port)],
                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_port(port, process, timeout=60)
    return process


def test_a_receiver_killed_mid_stream_loses_and_duplicates_nothing(sb, sales, postgres_url, spawn):
    engine = seeded(postgres_url, 20)
    run_engine(engine, resource_for(sb).adapter())  # the seed's few invalid rows on purpose stay unsynced
    accounts = {i: m for i, m in linked(engine, "Account").items() if m["external_id"]}
    assert len(accounts) >= EDITS
    accounts = {i: accounts[i] for i in sorted(accounts, key=int)[:EDITS]}
    sb.configure(outbound_base_delay=0.05, outbound_max_delay=0.2)
    port = free_port()
    first = serve(spawn, postgres_url, port)
    killed = threading.Event()
    sb.outbound.configure({"*": f"http://127.0.0.1:{port}/webhooks/salesforce/{TOKEN}"})

    def edit_all() -> None:
        """The stream: most edits while the receiver runs, the last few once it is dead (on a loaded machine the
        org could otherwise deliver every edit before the kill, leaving nothing in flight to lose)."""
        for n, internal_id in enumerate(sorted(accounts, key=int)):
            if n == EDITS - AFTER_THE_KILL:
                assert killed.wait(timeout=60)
            sales.Account.update(accounts[internal_id]["external_id"], {"Phone": f"+1 555 02{n:02d}"})
            time.sleep(0.01)

    editor = threading.Thread(target=edit_all)
    editor.start()
    try:
        wait_until(lambda: sb.outbound.status()["stats"].get("messages_acked", 0) >= 2, timeout=30)
        os.kill(first.pid, signal.SIGKILL)  # no shutdown, no flush: whatever was in flight is unanswered
        first.wait(timeout=10)
        killed.set()
        editor.join(timeout=60)
        assert not editor.is_alive()
        assert sb.outbound.status()["pending"] > 0  # not everything reached the receiver before the kill
        wait_until(lambda: sb.outbound.status()["stats"].get("failed_attempts", 0) >= 1, timeout=10)
        serve(spawn, postgres_url, port)  # the spawn fixture stops it
        wait_until(lambda: sb.outbound.status()["pending"] == 0, timeout=60)
    finally:
        killed.set()  # an editor still waiting ends; the spawn fixture kills both receivers
        editor.join(timeout=60)
    report = inbound(sb, engine)  # splits the stored envelopes (one per message) into notifications first
    stored = [r for r in InboxStore(engine).rows(system="salesforce") if r["event_type"] != ENVELOPE]
    assert len({r["event_id"] for r in stored}) == len(stored) == EDITS  # each notification once
    assert {r["status"] for r in InboxStore(engine).rows(event_type=ENVELOPE)} == {"applied"}  # every one split
    assert (report.applied, report.failed) == (EDITS, 0)  # each sales edit applied exactly once
    for n, internal_id in enumerate(sorted(accounts, key=int)):
        assert row(engine, internal_id)["phone"] == f"+1 555 02{n:02d}"
    assert inbound(sb, engine).applied == 0
