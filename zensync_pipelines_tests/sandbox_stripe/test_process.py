"""The sandbox as a separate process (CLI) and across restarts with a data file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import stripe

from zensync_pipelines.sandbox.stripe import StripeSandbox

from .conftest import KEY, client_for
from .test_webhooks import Receiver

WORKTREE = Path(__file__).resolve().parents[2]


def _as_a_background_job() -> None:
    """What a shell without job control (`pytest &`, nohup, a CI runner) does to a background job."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("started", [None, _as_a_background_job], ids=["foreground", "background job"])
def test_cli_serves_the_sdk_and_stops_on_ctrl_c(tmp_path: Path, spawn, started) -> None:
    """Ctrl-C stops the sandbox however it was started: a background job begins with SIGINT ignored, and the
    command must install its own handler (its child inherits the ignored SIGINT as this one does)."""
    data = tmp_path / "state.json"
    process = spawn(
        [sys.executable, "-m", "zensync_pipelines.sandbox.stripe", "--port", "0", "--rate-limit", "0",
         "--seed", "3", "--data", str(data)],
        cwd=WORKTREE, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"},
        preexec_fn=started)
    try:
        line = process.stdout.readline() if process.stdout else ""
        url = line.split(" listening on ")[1].split(" ")[0]
        client = stripe.StripeClient(KEY, base_addresses={"api": url}, max_network_retries=0)
        customer = client.v1.customers.create({"email": "cli@example.com"})
        assert client.v1.customers.retrieve(customer.id).email == "cli@example.com"
    finally:
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    saved = json.loads(data.read_text())  # flushed on stop
    assert customer.id in {obj["id"] for obj in saved["store"]["objects"]}


def test_data_file_keeps_state_and_idempotency_across_restarts(tmp_path: Path) -> None:
    data = str(tmp_path / "state.json")
    with StripeSandbox(rate_limit=None, data_file=data) as first:
        client = client_for(first)
        customer = client.v1.customers.create({"email": "keep@example.com", "metadata": {"zid": "9"}},
                                              {"idempotency_key": "persisted"})
        draft = client.v1.invoices.create({"customer": customer.id})
        client.v1.invoices.add_lines(draft.id, {"lines": [{"amount": 400}]})
    with StripeSandbox(rate_limit=None, data_file=data) as second:
        client = client_for(second)
        assert client.v1.customers.retrieve(customer.id).metadata.to_dict() == {"zid": "9"}
        assert client.v1.invoices.retrieve(draft.id).total == 400
        assert client.v1.customers.search({"query": "metadata['zid']:'9'"}).data[0].id == customer.id
        replay = client.v1.customers.create({"email": "keep@example.com", "metadata": {"zid": "9"}},
                                            {"idempotency_key": "persisted"})
        assert replay.id == customer.id and replay.last_response.headers["Idempotent-Replayed"] == "true"
        assert client.v1.customers.create({}).id != customer.id  # the same seed does not reissue taken ids


def test_writes_are_debounced(tmp_path: Path) -> None:
    data = str(tmp_path / "state.json")
    with StripeSandbox(rate_limit=None, data_file=data) as sb:
        client = client_for(sb)
        for i in range(60):
            client.v1.customers.create({"email": f"bulk{i}@example.com"})
        assert sb.persistence is not None
        saves_during_burst = sb.persistence.saves
    assert saves_during_burst < 20  # 60 writes (plus 60 events) did not mean 120 file writes
    assert len([o for o in json.loads(Path(data).read_text())["store"]["objects"]
                if o["object"] == "customer"]) == 60


def test_sigterm_saves_every_confirmed_write(tmp_path: Path, spawn) -> None:
    """A supervisor's SIGTERM stops the CLI as Ctrl-C does: what a client saw confirmed is in the data file."""
    data = tmp_path / "state.json"
    process = spawn(
        [sys.executable, "-m", "zensync_pipelines.sandbox.stripe", "--port", "0", "--rate-limit", "0",
         "--data", str(data)],
        cwd=WORKTREE, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        line = process.stdout.readline() if process.stdout else ""
        client = client_for_url(line.split(" listening on ")[1].split(" ")[0])
        customer = client.v1.customers.create({"email": "term@example.com"})
        draft = client.v1.invoices.create({"customer": customer.id})
        confirmed = {customer.id, draft.id}
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=10) == 0
    saved = json.loads(data.read_text())["store"]["objects"]
    assert confirmed <= {obj["id"] for obj in saved}
    assert {obj["type"] for obj in saved if obj["object"] == "event"} == {"customer.created", "invoice.created"}


def client_for_url(url: str) -> stripe.StripeClient:
    return stripe.StripeClient(KEY, base_addresses={"api": url}, max_network_retries=0)


def test_queued_webhook_deliveries_survive_a_restart(tmp_path: Path) -> None:
    data = str(tmp_path / "state.json")
    receiver = Receiver()
    try:
        with StripeSandbox(rate_limit=None, data_file=data, webhook_paused=True) as first:
            client = client_for(first)
            receiver.secret = client.v1.webhook_endpoints.create(
                {"url": receiver.url, "enabled_events": ["customer.created"]}).secret
            customer = client.v1.customers.create({"email": "queued@example.com"})
        assert receiver.raw == []  # paused until the sandbox stopped
        with StripeSandbox(rate_limit=None, data_file=data):
            receiver.wait_for(lambda: len(receiver.verified) == 1)
        assert receiver.verified[0].data.object.id == customer.id
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
