"""`zensync dev`: the whole product on one machine, on embedded defaults.

The catalog database (SQLite unless ZENSYNC_DATABASE_URL is set, seeded with demo rows when empty), both
sandboxes with their state in the data folder, and `dagster dev` on 127.0.0.1 with sensors running. One Ctrl-C
stops everything: dagster runs in its own session, so the terminal's signal reaches only zensync, which asks
dagster to stop and then stops the sandboxes.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import click
from sqlalchemy import inspect

from . import config
from .demo.plans import seed_plans
from .demo.seed import seed_customers
from .dev_systems import start_systems
from .store import migrate
from .store.db import make_engine, redact
from .systems.sandboxes import SANDBOX_STRIPE_KEY  # noqa: F401 (the live tests read it here)

DEV_INSTANCE_YAML = """# zensync dev: Dagster's embedded default storage in this folder.
telemetry:
  enabled: false
nux:
  enabled: false
run_coordinator:
  module: dagster._core.run_coordinator
  class: QueuedRunCoordinator
  config:
    dequeue_interval_seconds: 1  # a sensor's run starts within a second, not up to five
concurrency:
  pools:
    default_limit: 1  # one sync per system at a time, as in production
sensors:
  use_threads: true  # as in production: sensors tick side by side
  num_workers: 4
"""


def prepare_catalog(url: str, customers: int) -> str:
    engine = make_engine(url)
    migrate.upgrade(engine)
    empty = "customers" not in inspect(engine).get_table_names()
    added = seed_customers(engine, customers) if empty else 0
    if "plans" not in inspect(engine).get_table_names():
        seed_plans(engine, 20)  # the third shipped catalog needs its table; a price list is short
    engine.dispose()
    return f"seeded {added} demo customers" if added else "kept the existing catalog"


def dagster_home(data: Path) -> Path:
    home = data / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(DEV_INSTANCE_YAML)
    return home


def _default_signals() -> None:
    """A shell that started us in the background made us ignore SIGINT; dagster must not inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def run_dev(port: int, stripe_port: int, salesforce_port: int, customers: int) -> int:
    data = config.data_dir()
    data.mkdir(parents=True, exist_ok=True)
    url = config.database_url()
    click.echo(f"catalog database: {redact(url)} ({prepare_catalog(url, customers)})")

    # Every registered system: its sandbox, its own settings, or skipped with one line (systems/registry.py).
    systems = start_systems(data, {"stripe": stripe_port, "salesforce": salesforce_port})
    tmp = data / "tmp"
    tmp.mkdir(exist_ok=True)
    env = dict(os.environ, **systems.environment, **{
        config.DATABASE_URL: url,
        "ZENSYNC_SENSORS_DEFAULT": os.environ.get("ZENSYNC_SENSORS_DEFAULT", "running"),
        "DAGSTER_HOME": str(dagster_home(data)),
        "TMPDIR": str(tmp),  # dagster dev keeps its gRPC sockets there
    })
    for line in systems.lines:
        click.echo(line)
    click.echo(f"Dagster UI:         http://127.0.0.1:{port} (DAGSTER_HOME {env['DAGSTER_HOME']})")
    click.echo("Ctrl-C stops everything.")
    command = [sys.executable, "-m", "dagster", "dev", "-m", "zensync_pipelines.definitions",
               "-h", "127.0.0.1", "-p", str(port)]
    dagster = subprocess.Popen(command, env=env, start_new_session=True, preexec_fn=_default_signals)
    stopping = []

    def stop(signum: int, _frame: object) -> None:
        # dagster dev winds down its webserver, daemon and code servers on SIGINT; a second signal hurries it.
        if dagster.poll() is None:
            os.kill(dagster.pid, signal.SIGINT if not stopping else signal.SIGTERM)
        stopping.append(signum)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        while True:
            try:
                return dagster.wait(timeout=1 if not stopping else 30)
            except subprocess.TimeoutExpired:
                if stopping:
                    os.killpg(dagster.pid, signal.SIGKILL)
    finally:
        systems.stop()
        click.echo("zensync dev stopped.")
