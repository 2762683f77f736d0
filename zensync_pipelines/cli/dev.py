"""`zensync dev`: the whole product on one machine, on embedded defaults.

The catalog database (SQLite unless ZENSYNC_DATABASE_URL is set, seeded with demo rows when empty), both
sandboxes with their state in the data folder, and `dagster dev` on 127.0.0.1 with sensors running. One Ctrl-C
stops everything: dagster runs in its own session, so the terminal's signal reaches only zensync, which asks
dagster to stop and then stops the sandboxes.
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Callable

import click
import requests
from sqlalchemy import inspect

from .. import config
from . import dev_settings, devlog, preflight
from ..demo.plans import seed_plans
from ..demo.seed import seed_customers
from .dev_systems import start_systems
from ..store import migrate
from ..store.db import make_engine, redact
from ..sandbox.starters import SANDBOX_STRIPE_KEY  # noqa: F401 (the live tests read it here)

# The same instance as `dagster` commands run from the repository root (its top-level dagster.yaml links here).
INSTANCE_YAML = Path(__file__).parents[1] / "dagster_instance.yaml"  # package data, beside definitions.py


def prepare_catalog(url: str, customers: int) -> tuple[str, bool]:
    """Seed customers into an empty catalog; returns (what happened, whether demo invoices are still to come)."""
    from ..demo.tables import add_missing_columns, invoice_lines, invoices, metadata, payments

    engine = make_engine(url)
    migrate.upgrade(engine)
    add_missing_columns(engine)  # a demo database from before tenants (or before payments' `refunded`): the
    # shipped specs read them
    tables = inspect(engine).get_table_names()
    added = seed_customers(engine, customers) if "customers" not in tables else 0
    # The invoices' and payments' sensors need their tables at once; payments are born in Stripe (empty here).
    metadata.create_all(engine, tables=[invoices, invoice_lines, payments])
    if "plans" not in tables:
        seed_plans(engine, 20)  # the third shipped catalog needs its table; a price list is short
    engine.dispose()
    invoices_to_come = "invoices" not in tables and customers > 0
    return (f"seeded {added} demo customers" if added else "kept the existing catalog"), invoices_to_come


def seed_invoices_once_customers_synced(url: str, customers: int, timeout: float = 300) -> None:
    """Demo invoices, written once the customers reached Stripe: an invoice waits for its customer, and a
    waiting row is retried by the nightly reconcile, not by the next sensor tick."""
    from ..demo.invoices import seed_invoices
    from ..store.mappings import MappingStore

    engine = make_engine(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        counts = MappingStore(engine).status_counts("customers", "stripe")
        if sum(counts.values()) >= customers and not counts.get("pending"):
            break
        time.sleep(1)
    seed_invoices(engine, customers // 2, customers)  # one for every other customer, with its lines
    engine.dispose()


def subscriptions_to_come(url: str, customers: int) -> bool:
    """Create the subscriptions table (its sensors need it at once); True when it is new: demo rows to come."""
    from ..demo.tables import metadata, subscriptions

    engine = make_engine(url)
    new = "subscriptions" not in inspect(engine).get_table_names()
    metadata.create_all(engine, tables=[subscriptions])
    engine.dispose()
    return new and customers >= 10


def seed_subscriptions_once_synced(url: str, customers: int, timeout: float = 300) -> None:
    """Demo subscriptions (one for every tenth customer), written once the customers and the plans reached Stripe:
    a subscription waits for both, and a waiting row is retried by the nightly reconcile, not by the next tick."""
    from ..demo.subscriptions import seed_subscriptions
    from ..store.mappings import MappingStore

    engine = make_engine(url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        synced = [MappingStore(engine).status_counts(catalog, "stripe") for catalog in ("customers", "plans")]
        if sum(synced[0].values()) >= customers and sum(synced[1].values()) >= 20 \
                and not any(counts.get("pending") for counts in synced):
            break
        time.sleep(1)
    seed_subscriptions(engine, customers // 10, customers, 20, stamp=dt.datetime.now(dt.timezone.utc))
    engine.dispose()


PAY_AN_INVOICE = """Watch an invoice turn paid in the catalog: pay one in the Stripe sandbox, as a card payment would.
  curl -s -u {key}: '{stripe}/v1/invoices?status=open&limit=1' | grep -m1 '"id": "in_'
  curl -s -u {key}: -X POST {stripe}/v1/invoices/<that id>/pay -d paid_out_of_band=true
The webhook reaches the receiver, the sensor invoices_stripe_inbox starts inbound_invoices_stripe, and the row's
status becomes paid with its paid_at (asset stripe/inbound/invoices shows what was applied).
Or pay by card as the customer would, then refund part of it as support would:
  zensync sandbox stripe-pay --url {stripe} <catalog invoice id or in_...> --card pm_card_visa
  zensync sandbox stripe-refund --url {stripe} <the same invoice> --amount 500
The charge becomes a row of `payments` linked to its invoice and customer (inbound_payments_stripe), then a
Payment__c linked to its Invoice__c (sync_payments_salesforce); the refund moves amount_refunded in both."""


CANCEL_A_SUBSCRIPTION = """Watch a subscription cancelled in the Stripe dashboard turn canceled in the catalog:
  curl -s -u {key}: '{stripe}/v1/subscriptions?limit=1' | grep -m1 '"id": "sub_'
  curl -s -u {key}: -X DELETE {stripe}/v1/subscriptions/<that id>
The sensor subscriptions_stripe_inbox starts inbound_subscriptions_stripe; the row's status becomes canceled with
its canceled_at. A quantity changed in the catalog's subscriptions table moves the Stripe item's quantity."""


EDIT_AN_ACCOUNT = """Watch a sales-side edit reach the catalog: change customer 1's Account as a sales user would.
  zensync sandbox salesforce-edit --url {url} --ca-file {ca} Account 1 Phone="+1 555 0100" BillingCity=Lyon
The outbound message reaches the receiver, the sensor customers_salesforce_inbox starts
inbound_customers_salesforce, and customer 1's phone and city change (then reach Stripe)."""


# zensync dev's instance also names its sensor/schedule state storage, by folder: Dagster's SQLite storage without
# the work it repeats on every call (dagster_defs/schedule_storage.py: about half an idle daemon's CPU). The shared
# dagster_instance.yaml cannot name it: `dagster` commands from the repository root keep their instance in a
# temporary folder, which a storage's config cannot refer to.
SCHEDULE_STORAGE = """
schedule_storage:
  module: zensync_pipelines.dagster_defs.schedule_storage
  class: ZensyncSqliteScheduleStorage
  config:
    base_dir: {base_dir}
"""


def dagster_home(data: Path) -> Path:
    home = data / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    base_dir = json.dumps(str((home / "schedules").resolve()))  # a YAML double-quoted string for any path
    (home / "dagster.yaml").write_text(INSTANCE_YAML.read_text() + SCHEDULE_STORAGE.format(base_dir=base_dir))
    return home


# A unix socket's path holds at most 107 bytes; dagster dev names its gRPC sockets `tmpXXXXXXXX` in TMPDIR.
SOCKET_DIR_MAX = 90


def socket_dir(data: Path) -> Path:
    """Where dagster dev keeps its gRPC sockets: `<data>/tmp`, unless that path is too long to bind a socket in (a
    deep data folder: the code server then failed to start, "Failed to bind to address unix:..."); then a short
    folder of its own under /tmp, removed when dev exits."""
    tmp = data / "tmp"
    if len(str(tmp)) <= SOCKET_DIR_MAX:
        tmp.mkdir(exist_ok=True)
        return tmp
    short = Path(tempfile.mkdtemp(prefix="zensync-dev-", dir="/tmp" if os.path.isdir("/tmp") else None))
    atexit.register(shutil.rmtree, short, True)
    return short


def answers(url: str) -> bool:
    """True once the Dagster webserver serves requests (it listens some seconds after its process starts)."""
    try:
        return requests.get(f"{url}/server_info", timeout=1).ok
    except requests.RequestException:
        return False


STOP_SECONDS = 30  # after Ctrl-C, how long dagster dev gets to stop its services before they are killed


def supervise(child: subprocess.Popen, tick: Callable[[], None], stop_seconds: float = STOP_SECONDS) -> int:
    """Wait for `child` (dagster dev, leader of its own process group) and return its exit code; `tick` runs about
    once a second until a stop is asked. SIGINT or SIGTERM to this process asks the child to stop: SIGINT first
    (dagster dev winds down its webserver, daemon and code servers), SIGTERM on a second signal (it hurries); its
    whole group is killed if it is still there `stop_seconds` after the first signal."""
    stopping: list[float] = []

    def stop(_signum: int, _frame: object) -> None:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGINT if not stopping else signal.SIGTERM)
        stopping.append(time.monotonic())

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while True:
        try:
            return child.wait(timeout=1)
        except subprocess.TimeoutExpired:
            # A signal also ends the one-second wait it interrupts in TimeoutExpired: the deadline counts from the
            # first signal. (Taking that for "too slow" killed dagster dev within a second of every Ctrl-C, in the
            # middle of its own orderly stop, and dev exited 247.)
            if not stopping:
                tick()
            elif time.monotonic() - stopping[0] >= stop_seconds:
                try:
                    os.killpg(child.pid, signal.SIGKILL)
                except ProcessLookupError:  # it ended meanwhile: the next wait returns its code
                    pass


def _default_signals() -> None:
    """A shell that started us in the background made us ignore SIGINT; dagster must not inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _tenants(url: str, count: int, customers: int, stripe_url: str, systems: Any, receiver: Any,
             env: dict[str, str]) -> None:
    """Register t1..t`count` on their own account and org and seed their rows. The change sensors sync them: their
    first tick asks for a run over every row of each active tenant, as for any tenant registered later."""
    from .dev_receiver import _salesforce_sandbox
    from .dev_tenants import register_tenants

    engine = make_engine(url)
    made, environment = register_tenants(engine, count, SANDBOX_STRIPE_KEY, stripe_url,
                                         _salesforce_sandbox(systems.sandboxes), receiver.outbound_url, customers)
    engine.dispose()
    env |= environment  # each org's refresh token, for the tenants' runs in the dagster process
    for tenant in made:
        click.echo(tenant.line())


def run_dev(port: int, stripe_port: int, salesforce_port: int, customers: int, webhook_port: int = 8787,
            tenants: int = 0) -> int:
    # Every setting is checked before anything starts: a bad one is one line, not a half-started stack.
    for port_, service, flag in ((port, "Dagster UI", "--port"), (stripe_port, "Stripe sandbox", "--stripe-port"),
                                 (salesforce_port, "Salesforce sandbox", "--salesforce-port"),
                                 (webhook_port, "webhook receiver", "--webhook-port")):
        preflight.free_port(port_, service, flag)
    preflight.automation_settings()
    url, engine = preflight.database()
    engine.dispose()
    data = config.data_dir()
    data.mkdir(parents=True, exist_ok=True)
    prepared, invoices_to_come = prepare_catalog(url, customers)
    click.echo(f"catalog database: {redact(url)} ({prepared})")
    if invoices_to_come:
        click.echo(f"demo invoices: {customers // 2}, written once the customers are in Stripe")
        threading.Thread(target=seed_invoices_once_customers_synced, args=(url, customers), daemon=True).start()
    if subscriptions_to_come(url, customers):
        click.echo(f"demo subscriptions: {customers // 10}, written once the customers and plans are in Stripe")
        threading.Thread(target=seed_subscriptions_once_synced, args=(url, customers), daemon=True).start()

    # Every registered system: its sandbox, its own settings, or skipped with one line (systems/registry.py).
    systems = start_systems(data, {"stripe": stripe_port, "salesforce": salesforce_port})
    tmp = socket_dir(data)
    env = dict(os.environ, **systems.environment, **{
        config.DATABASE_URL: url,
        "ZENSYNC_SENSORS_DEFAULT": os.environ.get("ZENSYNC_SENSORS_DEFAULT", "running"),
        "DAGSTER_HOME": str(dagster_home(data)),
        "TMPDIR": str(tmp),  # dagster dev keeps its gRPC sockets there
    })
    from .dev_receiver import start_dev_receiver

    stripe_url = systems.environment[config.STRIPE_API_BASE]
    receiver = start_dev_receiver(make_engine(url), SANDBOX_STRIPE_KEY, stripe_url, webhook_port, systems.sandboxes)
    # For commands in a second shell: its sandboxes' settings (and the database's URL when given), until dev stops.
    recorded = dev_settings.record(data, systems.environment, os.environ.get(config.DATABASE_URL))
    for line in systems.lines:
        click.echo(line)
    click.echo(f"{'webhook receiver:':<20}{receiver.url} (Stripe sandbox webhooks -> {receiver.url}/webhooks/stripe)")
    if receiver.salesforce_url:
        click.echo(f"{'':<20}(the Salesforce sandbox's outbound messages go to {receiver.salesforce_url}/<token>)")
        click.echo(EDIT_AN_ACCOUNT.format(url=systems.environment[config.SALESFORCE_LOGIN_URL],
                                          ca=systems.environment[config.SALESFORCE_CA_BUNDLE]))
    if tenants:
        _tenants(url, tenants, customers, stripe_url, systems, receiver, env)
    click.echo(f"{'Dagster home:':<20}{env['DAGSTER_HOME']} (the UI's address follows once it answers)")
    click.echo(PAY_AN_INVOICE.format(key=SANDBOX_STRIPE_KEY, stripe=stripe_url))
    click.echo(CANCEL_A_SUBSCRIPTION.format(key=SANDBOX_STRIPE_KEY, stripe=stripe_url))
    click.echo(f"{'other shells:':<20}zensync commands run from here use these sandboxes, no export needed "
               f"({recorded})")
    click.echo("Ctrl-C stops everything.")
    command = [sys.executable, "-m", "zensync_pipelines.cli.dagster_dev", "--host", "127.0.0.1", "--port", str(port)]
    # Started in its DAGSTER_HOME: Dagster warns about any other dagster.yaml in its working folder.
    dagster = subprocess.Popen(command, env=env, cwd=env["DAGSTER_HOME"], start_new_session=True,
                               preexec_fn=_default_signals, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, bufsize=1)
    output = devlog.relay(dagster.stdout, sys.stdout)
    ui = f"http://127.0.0.1:{port}"
    announced = []

    def announce() -> None:
        if not announced and answers(ui):
            announced.append(ui)
            click.echo(f"Dagster UI:         {ui}")

    try:
        code = supervise(dagster, announce)
        if code < 0:  # killed: it did not stop within STOP_SECONDS of Ctrl-C, or something else killed it
            click.echo(f"dagster dev ended by signal {-code}", err=True)
            return 1
        return code
    finally:
        output.join(timeout=5)
        dev_settings.forget(data)
        receiver.stop()
        systems.stop()
        click.echo("zensync dev stopped.")
