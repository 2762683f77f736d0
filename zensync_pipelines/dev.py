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
import requests
from sqlalchemy import inspect

from . import config
from .demo.seed import seed_customers
from .store import migrate
from .store.db import make_engine, redact

# The same instance as `dagster` commands run from the repository root (its top-level dagster.yaml links here).
INSTANCE_YAML = Path(__file__).with_name("dagster_instance.yaml")
SANDBOX_STRIPE_KEY = "sk_test_zensync_dev_sandbox"


def prepare_catalog(url: str, customers: int) -> str:
    engine = make_engine(url)
    migrate.upgrade(engine)
    empty = "customers" not in inspect(engine).get_table_names()
    added = seed_customers(engine, customers) if empty else 0
    engine.dispose()
    return f"seeded {added} demo customers" if added else "kept the existing catalog"


def dagster_home(data: Path) -> Path:
    home = data / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    (home / "dagster.yaml").write_text(INSTANCE_YAML.read_text())
    return home


def answers(url: str) -> bool:
    """True once the Dagster webserver serves requests (it listens some seconds after its process starts)."""
    try:
        return requests.get(f"{url}/server_info", timeout=1).ok
    except requests.RequestException:
        return False


def _default_signals() -> None:
    """A shell that started us in the background made us ignore SIGINT; dagster must not inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def run_dev(port: int, stripe_port: int, salesforce_port: int, customers: int) -> int:
    from .sandbox.salesforce import SalesforceSandbox
    from .sandbox.stripe import StripeSandbox

    data = config.data_dir()
    data.mkdir(parents=True, exist_ok=True)
    url = config.database_url()
    click.echo(f"catalog database: {redact(url)} ({prepare_catalog(url, customers)})")

    stripe_sandbox = StripeSandbox(port=stripe_port, data_file=str(data / "stripe-sandbox.json")).start()
    salesforce_sandbox = SalesforceSandbox(port=salesforce_port, data_file=str(data / "salesforce-sandbox.json"),
                                           ca_file=str(data / "salesforce-sandbox-ca.pem")).start()
    tmp = data / "tmp"
    tmp.mkdir(exist_ok=True)
    env = dict(os.environ, **{
        config.DATABASE_URL: url,
        config.STRIPE_API_KEY: SANDBOX_STRIPE_KEY,
        config.STRIPE_API_BASE: stripe_sandbox.url,
        "SALESFORCE_LOGIN_URL": salesforce_sandbox.login_url,
        "SALESFORCE_CLIENT_ID": "zensync-dev",
        "SALESFORCE_CLIENT_SECRET": "zensync-dev-sandbox",
        "SALESFORCE_CA_BUNDLE": salesforce_sandbox.ca_file,
        "ZENSYNC_SENSORS_DEFAULT": os.environ.get("ZENSYNC_SENSORS_DEFAULT", "running"),
        "DAGSTER_HOME": str(dagster_home(data)),
        "TMPDIR": str(tmp),  # dagster dev keeps its gRPC sockets there
    })
    click.echo(f"Stripe sandbox:     {stripe_sandbox.url}")
    click.echo(f"Salesforce sandbox: {salesforce_sandbox.url} (CA file {salesforce_sandbox.ca_file})")
    click.echo(f"Dagster home:       {env['DAGSTER_HOME']} (the UI's address follows once it answers)")
    click.echo("Ctrl-C stops everything.")
    command = [sys.executable, "-m", "zensync_pipelines.dagster_dev", "--host", "127.0.0.1", "--port", str(port)]
    # Started in its DAGSTER_HOME: Dagster warns about any other dagster.yaml in its working folder.
    dagster = subprocess.Popen(command, env=env, cwd=env["DAGSTER_HOME"], start_new_session=True,
                               preexec_fn=_default_signals)
    ui = f"http://127.0.0.1:{port}"
    stopping = []

    def stop(signum: int, _frame: object) -> None:
        # dagster dev winds down its webserver, daemon and code servers on SIGINT; a second signal hurries it.
        if dagster.poll() is None:
            os.kill(dagster.pid, signal.SIGINT if not stopping else signal.SIGTERM)
        stopping.append(signum)

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        announced = False
        while True:
            try:
                return dagster.wait(timeout=1 if not stopping else 30)
            except subprocess.TimeoutExpired:
                if stopping:
                    os.killpg(dagster.pid, signal.SIGKILL)
                elif not announced and answers(ui):
                    announced = True
                    click.echo(f"Dagster UI:         {ui}")
    finally:
        stripe_sandbox.stop()
        salesforce_sandbox.stop()
        click.echo("zensync dev stopped.")
