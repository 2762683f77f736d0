"""`zensync webhooks serve` as an operator starts it: several worker processes on one port storing every delivery
once, stopped together by one SIGTERM; a malformed ZENSYNC_TRUSTED_PROXIES fails the start in one line."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from zensync_pipelines.sandbox.stripe.webhooks import sign
from zensync_pipelines.store import migrate
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.inbox import InboxStore
from zensync_pipelines_tests.conftest import free_port

SECRET = "whsec_serve"
COMMAND = [sys.executable, "-m", "zensync_pipelines.cli", "webhooks", "serve"]


def event(n: int) -> str:
    return json.dumps({"id": f"evt_serve_{n}", "object": "event", "type": "customer.updated", "created": 1764590400,
                       "data": {"object": {"id": f"cus_{n}", "object": "customer"}}})


def wait_healthy(port: int, process: subprocess.Popen) -> None:
    """Until /healthz answers 200 (every worker's database pool reachable), or the receiver gave up."""
    deadline = time.monotonic() + 60
    while True:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                return
        except requests.RequestException:
            pass
        assert time.monotonic() < deadline and process.poll() is None, "the receiver did not start"
        time.sleep(0.2)


def test_workers_share_the_port_and_store_every_delivery_once(postgres_url):
    engine = make_engine(postgres_url)
    migrate.upgrade(engine)
    port = free_port()
    env = dict(os.environ, ZENSYNC_DATABASE_URL=postgres_url, STRIPE_WEBHOOK_SECRET=SECRET)
    env.pop("SALESFORCE_ORGANIZATION_ID", None)
    process = subprocess.Popen([*COMMAND, "--port", str(port), "--workers", "2"], env=env, start_new_session=True,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_healthy(port, process)

        def deliver(n: int) -> int:
            body = event(n % 150)  # 50 deliveries are redeliveries of an event already sent
            return requests.post(f"http://127.0.0.1:{port}/webhooks/stripe", data=body, timeout=30, headers={
                "Content-Type": "application/json", "Stripe-Signature": sign(body, [SECRET], int(time.time()))}) \
                .status_code

        with ThreadPoolExecutor(16) as pool:
            assert set(pool.map(deliver, range(200))) == {200}
    finally:
        os.killpg(process.pid, signal.SIGTERM)  # the supervisor and its workers, as a service manager stops it
        try:  # a stop is bounded by the shutdown timeout (10 s)
            output = process.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            pytest.fail("the receiver did not stop within 30 s of SIGTERM:\n" + process.communicate()[0][-3000:])
    assert process.returncode == 0, output[-2000:]
    workers = {line.split("[")[1].split("]")[0] for line in output.splitlines() if "Started server process" in line}
    assert len(workers) == 2, output[-2000:]
    assert len(InboxStore(engine).rows()) == 150
    engine.dispose()


def test_a_delivery_in_flight_holds_a_stop_no_longer_than_the_shutdown_timeout(sqlite_url):
    """A client that sent half its body when SIGTERM came would hold uvicorn's stop for ever (its default); the
    receiver cuts it after --shutdown-timeout and exits, and the cut delivery was never acknowledged."""
    import socket

    port = free_port()
    env = dict(os.environ, ZENSYNC_DATABASE_URL=sqlite_url, STRIPE_WEBHOOK_SECRET=SECRET)
    env.pop("SALESFORCE_ORGANIZATION_ID", None)
    process = subprocess.Popen([*COMMAND, "--port", str(port), "--shutdown-timeout", "1", "--body-timeout", "120"],
                               env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_healthy(port, process)
        client = socket.create_connection(("127.0.0.1", port))
        client.sendall(b"POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                       b"Content-Length: 1000\r\n\r\n{\"id\": ")  # the body's first bytes, then nothing
        time.sleep(0.5)
        stopped = time.monotonic()
        process.send_signal(signal.SIGTERM)
        try:
            output = process.communicate(timeout=20)[0]
        except subprocess.TimeoutExpired:
            process.kill()
            pytest.fail("the receiver did not stop within 20 s of SIGTERM:\n" + process.communicate()[0][-3000:])
        assert time.monotonic() - stopped < 10, output[-2000:]  # the body timeout (120 s) did not end it
        assert "timeout graceful shutdown exceeded" in output, output[-2000:]
        client.settimeout(5)
        assert b"200" not in client.recv(1000)  # cut, not acknowledged: Stripe sends it again
        client.close()
    finally:
        if process.poll() is None:
            process.kill()


def test_a_malformed_trusted_proxy_fails_the_start_in_one_line(sqlite_url):
    env = dict(os.environ, ZENSYNC_DATABASE_URL=sqlite_url, STRIPE_WEBHOOK_SECRET=SECRET,
               ZENSYNC_TRUSTED_PROXIES="10.0.0.1, proxy.internal")
    done = subprocess.run([*COMMAND, "--port", str(free_port())], env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode != 0
    assert "ZENSYNC_TRUSTED_PROXIES: not an address or network: 'proxy.internal'" in done.stderr
    assert "Traceback" not in done.stderr
