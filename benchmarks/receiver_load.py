"""Load for the webhook receiver's throughput benchmarks, run as a process of its own so that the clients' CPU is
not the server's: `python -m benchmarks.receiver_load URL KIND FIRST COUNT CLIENTS` POSTs COUNT prepared
deliveries (KIND `stripe`: signed events, `salesforce`: outbound messages of 100 notifications), each a new id
from FIRST on, over CLIENTS kept-alive connections (asyncio on raw sockets: ~20 µs of client CPU a request, where
`requests` spent about a millisecond), and prints one JSON line: seconds, answers by status, acknowledged.

Also the helpers the scenarios share: start a server process, wait for it, read its CPU time from /proc.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections import Counter
from typing import Any, Optional

import requests

SECRET = "whsec_benchmark"
TOKEN = "benchmark-token"
NOTIFICATIONS = 100  # per Salesforce message: the most it sends, as a data load does
ANSWER_SECONDS = 60  # Salesforce waits 120 s for an answer, Stripe 10-20 s; a loaded receiver answers in well under 1


def stripe_body(n: int) -> str:
    return json.dumps({"id": f"evt_bench_{n:08d}", "object": "event", "type": "customer.updated",
                       "created": 1764590400 + n, "request": {"id": None, "idempotency_key": None},
                       "data": {"object": {"id": f"cus_bench_{n % 500}", "object": "customer", "email": "a@b.co",
                                           "metadata": {"zenskar_id": str(n % 500)}}}}, indent=2)


def salesforce_body(first: int, org: str) -> bytes:
    notifications = "".join(
        f"<Notification><Id>04l{n:012d}</Id><sObject xsi:type=\"sf:Account\" "
        f"xmlns:sf=\"urn:sobject.enterprise.soap.sforce.com\"><sf:Id>001{n % 500:012d}</sf:Id>"
        f"<sf:Phone>+1 555 {n % 10000:04d}</sf:Phone><sf:SystemModstamp>2026-12-01T10:00:00.000Z</sf:SystemModstamp>"
        f"</sObject></Notification>" for n in range(first, first + NOTIFICATIONS))
    return ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
            '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
            f"<OrganizationId>{org}</OrganizationId><ActionId>04k000000000001AAA</ActionId>"
            '<SessionId xsi:nil="true"/><EnterpriseUrl>https://example/</EnterpriseUrl>'
            f"<PartnerUrl>https://example/</PartnerUrl>{notifications}</notifications></soapenv:Body>"
            "</soapenv:Envelope>").encode()


def _requests(kind: str, host: str, first: int, count: int) -> list[bytes]:
    prepared = []
    if kind == "stripe":
        from zensync_pipelines.sandbox.stripe.webhooks import sign

        now = int(time.time())
        for n in range(first, first + count):
            body = stripe_body(n).encode()
            head = (f"POST /webhooks/stripe HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                    f"Stripe-Signature: {sign(body.decode(), [SECRET], now)}\r\nContent-Length: {len(body)}\r\n\r\n")
            prepared.append(head.encode() + body)
    else:
        from zensync_pipelines.sandbox.salesforce.auth import ORG_ID

        for m in range(count):
            body = salesforce_body(first + m * NOTIFICATIONS, ORG_ID)
            head = (f"POST /webhooks/salesforce/{TOKEN} HTTP/1.1\r\nHost: {host}\r\n"
                    f"Content-Type: text/xml; charset=utf-8\r\nContent-Length: {len(body)}\r\n\r\n")
            prepared.append(head.encode() + body)
    return prepared


async def _client(host: str, port: int, work: list[bytes], statuses: Counter) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    while work:
        writer.write(work.pop())
        try:  # a delivery the server never answers is counted, not waited for until the process's own bound
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), ANSWER_SECONDS)
        except asyncio.TimeoutError:
            statuses["unanswered"] += 1
            break
        length = next((int(line.split(b":", 1)[1]) for line in head.split(b"\r\n")
                       if line.lower().startswith(b"content-length:")), 0)
        await reader.readexactly(length)
        statuses[int(head.split(b" ", 2)[1])] += 1
    writer.close()


async def _load(url: str, kind: str, first: int, count: int, clients: int) -> dict[str, Any]:
    host, port = url.split("//", 1)[1].split(":")
    work = _requests(kind, host, first, count)
    work.reverse()  # popped from the end: sent in id order
    statuses: Counter = Counter()
    started = time.perf_counter()
    await asyncio.gather(*(_client(host, int(port), work, statuses) for _ in range(clients)))
    seconds = time.perf_counter() - started
    per = NOTIFICATIONS if kind == "salesforce" else 1
    return {"seconds": seconds, "statuses": dict(statuses), "acknowledged": statuses.get(200, 0) * per}


def load(url: str, kind: str, first: int, count: int, clients: int) -> dict[str, Any]:
    """Run the load in a process of its own; its JSON answer."""
    done = subprocess.run([sys.executable, "-m", "benchmarks.receiver_load", url, kind, str(first), str(count),
                           str(clients)], capture_output=True, text=True, timeout=600, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def _end_with_parent() -> None:
    """In the server's process before exec: SIGTERM when the benchmark's process dies, even by SIGKILL (a
    harness's timeout), so a crashed run leaves no server holding its port and CPU (Linux's PR_SET_PDEATHSIG)."""
    import ctypes
    import signal

    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def start(command: list[str], port: int, env: dict[str, str], log_path: str,
          cwd: Optional[str] = None) -> subprocess.Popen:
    """A server process (its own session, so it is stopped with its workers), once /healthz answers."""
    log = open(log_path, "w")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                               cwd=cwd, preexec_fn=_end_with_parent if sys.platform == "linux" else None)
    deadline = time.monotonic() + 120
    while True:
        try:
            if requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1).ok:
                return process
        except requests.RequestException:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"server did not start: {open(log_path).read()[-2000:]}")
        time.sleep(0.2)


def stop(process: subprocess.Popen) -> None:
    os.killpg(process.pid, 15)
    process.wait(timeout=30)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of `pid` and its live child processes (the workers), from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry) == pid or int(fields[1]) == pid:  # fields[1]: the parent's id
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def main(argv: Optional[list[str]] = None) -> None:
    url, kind, first, count, clients = (argv or sys.argv[1:])[:5]
    try:
        from uvloop import new_event_loop
    except ImportError:
        new_event_loop = None
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        print(json.dumps(runner.run(_load(url, kind, int(first), int(count), int(clients)))))


if __name__ == "__main__":
    main()


def measure(database_url: str, kind: str, count: int, clients: int, workers: int, port: int, work_dir: str,
            code_path: Optional[str] = None) -> dict[str, Any]:
    """The no-op endpoint, the commit floor (the no-op plus the receiver's durable commit: commit_floor.py) and the
    receiver (`zensync webhooks serve`), one after the other, each started with `workers` processes on `port`,
    each loaded with `count` deliveries (after a warm-up) from `clients` connections; rates, the receiver's and
    the floor's ratios to the no-op, CPU per delivery and per event. `code_path`: another checkout's code to
    measure as the receiver (a "before")."""
    from zensync_pipelines.sandbox.salesforce.auth import ORG_ID

    env = dict(os.environ, ZENSYNC_DATABASE_URL=database_url, STRIPE_WEBHOOK_SECRET=SECRET,
               SALESFORCE_ORGANIZATION_ID=ORG_ID, SALESFORCE_OUTBOUND_TOKEN=TOKEN)
    url = f"http://127.0.0.1:{port}"
    per = NOTIFICATIONS if kind == "salesforce" else 1
    warm = max(20, clients * 4)
    found: dict[str, Any] = {}
    for name in ("noop", "floor", "receiver"):
        if name in ("noop", "floor"):
            module = "benchmarks.noop_receiver" if name == "noop" else "benchmarks.commit_floor"
            command = [sys.executable, "-m", module, str(port), str(workers)]
        else:
            command = [sys.executable, "-m", "zensync_pipelines.cli", "webhooks", "serve", "--port", str(port)]
            command += ["--workers", str(workers)] if workers > 1 or not code_path else []
        own = dict(env, PYTHONPATH=code_path) if code_path and name == "receiver" else env
        process = start(command, port, own, f"{work_dir}/{name}-{kind}-{workers}w-{clients}c.log",
                        code_path if name == "receiver" else None)
        try:
            load(url, kind, 10**9, warm, clients)  # warm-up: ids far above the measured ones
            cpu = cpu_seconds(process.pid)
            answer = load(url, kind, 0, count, clients)
            cpu = cpu_seconds(process.pid) - cpu
        finally:
            stop(process)
        if name != "receiver" and set(answer["statuses"]) != {"200"}:
            # A reference that refuses deliveries (the floor's database, a port taken) would make every ratio a lie.
            raise RuntimeError(f"the {name} endpoint did not answer every delivery 200: {answer['statuses']} "
                               f"(log: {work_dir}/{name}-{kind}-{workers}w-{clients}c.log)")
        found[name] = {"rate": answer["acknowledged"] / answer["seconds"], "acknowledged": answer["acknowledged"],
                       "statuses": answer["statuses"], "cpu_ms_per_delivery": 1000 * cpu / count,
                       "cpu_ms_per_event": 1000 * cpu / (count * per)}
    found["ratio"] = found["receiver"]["rate"] / found["noop"]["rate"]
    found["floor_ratio"] = found["floor"]["rate"] / found["noop"]["rate"]
    return found
