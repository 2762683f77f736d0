"""A small Celery cluster on one machine, for the scale-out tests and the `scale_out` benchmark: `zensync worker`
processes on the broker at 127.0.0.1:5672 (RabbitMQ; `.ci/run` starts it), a Dagster instance on PostgreSQL with
the product's settings, the Stripe sandbox with a per-account rate limit, and a catalog database for tenants.

Each cluster uses its own queue (ZENSYNC_CELERY_QUEUE), so workers of another checkout on the same broker never
take its steps, nor its workers theirs. The process that enters it orchestrates runs with the same environment."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator, Optional

import pytest
import stripe
import yaml
from sqlalchemy import text
from sqlalchemy.engine import make_url

from zensync_pipelines.cli.dev import INSTANCE_YAML
from zensync_pipelines.store import migrate
from zensync_pipelines.store.db import make_engine

BROKER = os.environ.get("ZENSYNC_TEST_CELERY_BROKER_URL") or "amqp://guest:guest@127.0.0.1:5672//"
KEY = "sk_test_scale_out_platform"
LOCATION = "zensync_pipelines_tests.scale_out.location"
REPO = Path(__file__).resolve().parents[2]
PASSED = ("ZENSYNC_DATABASE_URL", "STRIPE_API_KEY", "STRIPE_API_BASE", "DAGSTER_HOME", "ZENSYNC_EXECUTOR",
          "ZENSYNC_CELERY_BROKER_URL", "ZENSYNC_CELERY_QUEUE", "SCALE_OUT_STRIPE_RATE")


@dataclasses.dataclass
class Cluster:
    engine: Any
    sandbox: Any
    env: dict[str, str]
    home: Path
    workers: dict[str, subprocess.Popen]
    logs: Path

    def start_worker(self, name: str, concurrency: int = 1) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "ab")  # noqa: SIM115 - kept open for the process's life
        # The node name carries the cluster's own queue: Celery's control queue is named after the node, and two
        # clusters on one broker (a benchmark beside the tests, pytest-xdist workers) refused each other's w1.
        node = f"{name}@{self.env['ZENSYNC_CELERY_QUEUE']}"
        process = subprocess.Popen([sys.executable, "-m", "zensync_pipelines.cli", "worker", "-m", LOCATION,
                                    "--concurrency", str(concurrency), "--name", node,
                                    "--loglevel", "INFO"],
                                   env=self.env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)  # its own process group: kill -9 takes its children
        self.workers[name] = process
        return process

    def wait_ready(self, timeout: float = 90) -> None:
        """Until every worker has logged `ready` (connected to the broker, consuming its queue)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [n for n, p in self.workers.items() if p.poll() is not None]
            assert not dead, f"worker(s) {dead} exited: " + "".join(
                (self.logs / f"{n}.log").read_text()[-2000:] for n in dead)
            if all(b" ready." in (self.logs / f"{n}.log").read_bytes() for n in self.workers):
                return
            time.sleep(0.2)
        raise TimeoutError(f"workers not ready after {timeout}s")

    def kill(self, name: str) -> None:
        """kill -9 of the worker and its pool's processes: a machine lost mid-step."""
        process = self.workers.pop(name)
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def stop_workers(self) -> None:
        """SIGTERM (warm shutdown: steps in progress finish), then SIGKILL for any that will not stop."""
        for process in self.workers.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.workers.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=20)
        self.workers.clear()

    def accounts(self) -> dict[str, str]:
        from zensync_pipelines.store.tenants import TenantStore

        return {t.id: t.stripe_account for t in TenantStore(self.engine).list()}

    def add_tenants(self, rows: dict[str, int]) -> None:
        """Tenants with `rows[t]` customers each, created over the last six months, each on its own account."""
        from zensync_pipelines.store.tenants import Tenant, TenantStore
        from zensync_pipelines_tests.scale_out import location

        location.create_table(self.engine, rows)
        platform = stripe.StripeClient(KEY, base_addresses={"api": self.sandbox.url})
        for tenant in rows:
            while True:  # the platform's setup calls are not what the tests measure: past its limit, try again
                try:
                    account = platform.v1.accounts.create({"type": "custom"}).id
                    break
                except stripe.RateLimitError:
                    time.sleep(0.05)
            TenantStore(self.engine).add(Tenant(tenant, stripe_account=account))

    def made(self, account: str) -> int:
        """How many customers the account holds now, read in the sandbox's process (no request, no rate limit)."""
        return sum(1 for _ in self.sandbox.accounts.state(account).store.newest_first("customer"))

    def customers(self, account: str) -> list[str]:
        """The zenskar ids of every customer in the account, one entry per Stripe object (duplicates show)."""
        client = stripe.StripeClient(KEY, stripe_account=account, base_addresses={"api": self.sandbox.url})
        return sorted(c.metadata["zenskar_id"] for c in client.v1.customers.list({"limit": 100}).auto_paging_iter())


def _schema_url(server: str, schema: str) -> str:
    url = make_url(server)
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


@contextmanager
def celery_cluster(postgres_server: str, folder: Path, sandbox_rate: float, client_rate: float,
                   latency_ms: float = 20, pool_limit: Optional[int] = None) -> Iterator[Cluster]:
    """`pool_limit`: the systems' pools (default: the product's), sized above the workers' slots for throughput
    (docs/scale-out.md, "Limits across workers")."""
    from zensync_pipelines.sandbox.stripe import StripeSandbox

    # The catalog and Dagster's storage each in a schema of their own (both keep an `alembic_version` table).
    schemas = [f"zs_scale_{uuid.uuid4().hex[:10]}", f"zs_dagster_{uuid.uuid4().hex[:10]}"]
    admin = make_engine(postgres_server)
    with admin.begin() as connection:
        for schema in schemas:
            connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    url, dagster_url = (_schema_url(postgres_server, schema) for schema in schemas)
    home, logs = folder / "dagster_home", folder / "worker_logs"
    home.mkdir(parents=True)
    logs.mkdir(parents=True)
    # The product's instance (queue, pools, tag limits) on PostgreSQL, which every worker reaches too.
    instance = yaml.safe_load(INSTANCE_YAML.read_text())
    if pool_limit is not None:
        instance["concurrency"]["pools"]["default_limit"] = pool_limit
    instance["storage"] = {"postgres": {"postgres_url": make_url(dagster_url).set(drivername="postgresql")
                                        .render_as_string(hide_password=False)}}
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance))
    engine = make_engine(url)
    migrate.upgrade(engine)
    sandbox = StripeSandbox(rate_limit=sandbox_rate).start()
    sandbox.configure(latency_ms=latency_ms)
    env = dict(os.environ, ZENSYNC_DATABASE_URL=url, STRIPE_API_KEY=KEY, STRIPE_API_BASE=sandbox.url,
               DAGSTER_HOME=str(home), ZENSYNC_EXECUTOR="celery", ZENSYNC_CELERY_BROKER_URL=BROKER,
               ZENSYNC_CELERY_QUEUE=f"zensync_test_{uuid.uuid4().hex[:8]}", SCALE_OUT_STRIPE_RATE=str(client_rate),
               PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
    world = Cluster(engine, sandbox, env, home, {}, logs)
    patch = pytest.MonkeyPatch()
    try:
        for name in PASSED:
            patch.setenv(name, env[name])  # the run's own process (the caller) orchestrates with the same settings
        yield world
    finally:
        patch.undo()
        world.stop_workers()
        sandbox.stop()
        engine.dispose()
        with admin.begin() as connection:
            for schema in schemas:
                connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
