"""PostgreSQL's write signal (store/pg_listen.py): how soon a waiting change-sensor tick returns after a catalog
UPDATE, and what the listener costs while nothing happens.

    python -m benchmarks.pg_wake [--url postgresql+psycopg2://postgres@127.0.0.1:5432/test] [--samples 20]
                                 [--idle-seconds 60] [--writers 8] [--write-seconds 10]

In a schema of its own (dropped at the end): zensync's tables, 1,000 demo customers and the customers change
sensor (Stripe only; a tick asks for runs, none is launched). Each sample ticks the sensor with the cursor of the
previous one, so the tick finds nothing and waits (3 s at most); another connection pool UPDATEs one row 0.3-1.5 s
into the wait. Reported, medians over the samples: UPDATE sent -> tick returned (the wake, the tick's second query
and Dagster's evaluation of the result), UPDATE committed -> tick returned, and UPDATE committed -> a bare
NotifyWatch.wait returned. Idle: the CPU (user + system, /proc) of a process holding one listener for
--idle-seconds, and of its server backend. Writers: single-row autocommit UPDATEs per second (pgbench) from one
connection and from --writers, for --write-seconds each, three times without and with the trigger, alternated
(PostgreSQL serialises the commits of notifying transactions: a global lock held through the commit's flush).
Wall-clock on a shared machine.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import psutil
from dagster import DagsterInstance, Definitions, build_sensor_context
from sqlalchemy import text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python benchmarks/pg_wake.py` from the repo root

from zensync_pipelines.catalogs import load_specs  # noqa: E402
from zensync_pipelines.dagster_defs.factory import build_catalog_definitions  # noqa: E402
from zensync_pipelines.dagster_defs.resources import CatalogDatabase  # noqa: E402
from zensync_pipelines.dagster_defs.settings import AutomationSettings  # noqa: E402
from zensync_pipelines.demo.seed import seed_customers  # noqa: E402
from zensync_pipelines.store import migrate, wake_triggers  # noqa: E402
from zensync_pipelines.store.db import make_engine  # noqa: E402
from zensync_pipelines.store.pg_listen import NotifyWatch  # noqa: E402
from zensync_pipelines.store.wake import close_watches  # noqa: E402
from zensync_pipelines.systems.stripe import StripeResource  # noqa: E402

WAIT = 3.0
SENSOR = "customers_changes"
IDLE_CHILD = """
import sys, time
from zensync_pipelines.store.pg_listen import NotifyWatch
watch = NotifyWatch(sys.argv[1])
print(watch.backend_pid, flush=True)
sys.stdin.readline()
"""


def _update(engine, row: int) -> float:
    with engine.begin() as connection:
        connection.execute(text("UPDATE customers SET phone = :p, updated_at = now() WHERE id = :id"),
                           {"p": f"+1555{random.randrange(10**7):07d}", "id": row})
    return time.monotonic()


def tick_latency(url: str, samples: int) -> dict[str, float]:
    spec = {s.name: s for s in load_specs()}["customers"]
    spec = dataclasses.replace(spec, systems={"stripe": spec.systems["stripe"]})
    resources = {"catalog_db": CatalogDatabase(url=url),
                 "stripe": StripeResource(api_key="sk_test_bench", api_base="http://127.0.0.1:9")}
    settings = AutomationSettings(sensor_overlap_seconds=300, sensor_wait_seconds=WAIT)
    defs = Definitions.merge(build_catalog_definitions(spec, settings), Definitions(resources=resources))
    sensor = defs.resolve_sensor_def(SENSOR)
    writer = make_engine(url)
    with tempfile.TemporaryDirectory() as home:
        instance = DagsterInstance.local_temp(tempdir=home)

        def tick(cursor):
            return sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=cursor, resources=resources,
                                                             definitions=defs))

        cursor = tick(None).cursor  # the first tick takes every row; the listener and the trigger are made here
        sent, committed = [], []
        for n in range(samples):
            delay, times = random.uniform(0.3, 1.5), {}

            def change():
                time.sleep(delay)
                times["sent"] = time.monotonic()
                times["committed"] = _update(writer, 1 + n % 100)
            thread = threading.Thread(target=change)
            thread.start()
            result = tick(cursor)
            returned = time.monotonic()
            thread.join()
            assert result.run_requests, "the tick ended without seeing the change"
            cursor = result.cursor
            sent.append(returned - times["sent"])
            committed.append(returned - times["committed"])
    writer.dispose()
    return {"update sent -> tick returned": statistics.median(sent),
            "update committed -> tick returned": statistics.median(committed),
            "p90 update sent -> tick returned": statistics.quantiles(sent, n=10)[-1]}


def watch_latency(url: str, samples: int) -> float:
    watch, writer, woken = NotifyWatch(url), make_engine(url), []
    for n in range(samples):
        stamp, times = watch.stamp(), {}
        thread = threading.Thread(target=lambda: (time.sleep(0.2), times.update(c=_update(writer, 1 + n % 100))))
        thread.start()
        assert watch.wait(stamp, time.monotonic() + 5)
        returned = time.monotonic()
        thread.join()
        woken.append(returned - times["c"])
    watch.close()
    writer.dispose()
    return statistics.median(woken)


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def idle_cost(url: str, seconds: float) -> dict[str, float]:
    child = subprocess.Popen([sys.executable, "-c", IDLE_CHILD, url], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             text=True, cwd=Path(__file__).resolve().parents[1])
    backend = psutil.Process(int(child.stdout.readline()))
    client = psutil.Process(child.pid)
    time.sleep(1)  # past the imports
    start = _cpu(client), _cpu(backend)
    time.sleep(seconds)
    end = _cpu(client), _cpu(backend)
    child.stdin.write("\n")
    child.stdin.flush()
    child.wait(10)
    return {"listener process CPU-s": end[0] - start[0], "its backend CPU-s": end[1] - start[1]}


PGBENCH_SCRIPT = "\\set id random(1, 1000)\nUPDATE customers SET phone = :id, updated_at = now() WHERE id = :id;\n"


def write_rate(url: str, schema: str, clients: int, seconds: float) -> float:
    """Single-row autocommit UPDATEs a second from `clients` pgbench connections (a process of its own: Python
    threads would measure the GIL)."""
    parsed = make_url(url)
    env = dict(os.environ, PGHOST=parsed.host or "", PGPORT=str(parsed.port or 5432), PGUSER=parsed.username or "",
               PGPASSWORD=parsed.password or "", PGDATABASE=parsed.database or "", PGOPTIONS=f"-csearch_path={schema}")
    with tempfile.NamedTemporaryFile("w", suffix=".sql") as script:
        script.write(PGBENCH_SCRIPT)
        script.flush()
        out = subprocess.run(["pgbench", "-n", "-c", str(clients), "-j", str(min(clients, 2)), "-T",
                              str(int(seconds)), "-f", script.name], env=env, capture_output=True, text=True,
                             check=True).stdout
    return float(next(line.split()[2] for line in out.splitlines() if line.startswith("tps")))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="postgresql+psycopg2://postgres@127.0.0.1:5432/test")
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--idle-seconds", type=float, default=60)
    parser.add_argument("--writers", type=int, default=8)
    parser.add_argument("--write-seconds", type=float, default=10)
    args = parser.parse_args()
    schema = f"zs_bench_{uuid.uuid4().hex[:8]}"
    admin = make_engine(args.url)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url = make_url(args.url).update_query_dict({"options": f"-csearch_path={schema}"}) \
        .render_as_string(hide_password=False)
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
        seed_customers(engine, 1000)
        print({k: round(v, 4) for k, v in tick_latency(url, args.samples).items()})
        close_watches()
        print({"update committed -> watch woken": round(watch_latency(url, args.samples), 4)})
        print({k: round(v, 3) for k, v in idle_cost(url, args.idle_seconds).items()}, f"over {args.idle_seconds} s")
        if shutil.which("pgbench") is None:
            print("pgbench not found: write rates not measured")
            return
        base = make_url(args.url).render_as_string(hide_password=False)
        for clients in (1, args.writers):
            rates: dict[str, list[float]] = {"without trigger": [], "with trigger": []}
            for _ in range(3):  # alternated, so neither side gets all the warm-up or all of a neighbour's load
                with engine.begin() as connection:
                    connection.execute(text(f'DROP TRIGGER "{wake_triggers.channel_for(schema)}" ON customers'))
                rates["without trigger"].append(write_rate(base, schema, clients, args.write_seconds))
                wake_triggers.install(engine, ["customers"])
                rates["with trigger"].append(write_rate(base, schema, clients, args.write_seconds))
            print({f"updates/s {k}": [round(r) for r in v] for k, v in rates.items()}, f"({clients} clients)")
    finally:
        close_watches()
        engine.dispose()
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


if __name__ == "__main__":
    main()
