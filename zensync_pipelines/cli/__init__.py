"""The `zensync` command line."""

from __future__ import annotations

import datetime as dt

import click
from sqlalchemy import Engine

from . import dev_settings, preflight
from .. import config
from .webhooks import webhooks
from .ops import COMMANDS as OPERATOR_COMMANDS
from .ops_inbound import COMMANDS as INBOUND_COMMANDS
from .sandbox import sandbox
from .status import status
from .tenants import tenants
from ..dagster_defs.partition_choice import PartitioningError
from .worker import worker
from ..engine.spec import SpecError
from ..store import migrate
from ..store.db import redact


class _Main(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except SpecError as error:  # a spec that does not fit the database (a missing table): one line, exit 2
            raise preflight.SettingsError(str(error)) from None
        except PartitioningError as error:  # the registry cannot say how the copies are partitioned: one line
            raise preflight.SettingsError(str(error)) from None


@click.group(cls=_Main)
@click.pass_context
def main(ctx: click.Context) -> None:
    """zensync: keep billing catalogs in sync with Stripe and Salesforce, on Dagster."""
    # A second shell beside a running `zensync dev` uses its sandboxes without any export (cli/dev_settings.py);
    # dev itself never takes a previous dev's.
    if ctx.invoked_subcommand != "dev":
        taken = dev_settings.adopt()
        if taken:
            click.echo(f"using zensync dev's settings ({dev_settings.path(config.data_dir())}): "
                       f"{', '.join(sorted(taken))}", err=True)


@main.group()
def db() -> None:
    """zensync's own tables in the catalog database."""


@db.command()
@click.option("--wake-triggers", is_flag=True,
              help="PostgreSQL: also add the wake trigger to each catalog table, so that change sensors see a "
                   "write at once (docs/operations.md, 'The wake trigger on PostgreSQL', says what it costs).")
def upgrade(wake_triggers: bool) -> None:
    """Upgrade zensync's tables to the newest migration; on PostgreSQL, say which catalog tables have the wake
    trigger (and add it with --wake-triggers)."""
    url, engine = preflight.database()
    migrate.upgrade(engine)
    click.echo(f"zensync tables at revision {migrate.current(engine)} in {redact(url)}")
    if engine.dialect.name == "postgresql":
        _wake_triggers(engine, wake_triggers)


def _wake_triggers(engine: Engine, add: bool) -> None:
    """A change sensor waits for its catalog's writes only with their trigger (store/wake_triggers.py): one line per
    table of a catalog with a change sensor. Added only when asked: the catalog is the user's table, and a
    notifying commit holds a server-wide lock through its flush. With waiting off, none is added."""
    from ..catalogs import load_specs
    from ..dagster_defs.settings import SENSOR_WAIT, wait_seconds
    from ..store import wake_triggers

    if not wait_seconds():
        click.echo(f"wake triggers not added: {SENSOR_WAIT} is 0, sensor ticks do not wait")
        return
    watched = [spec for spec in load_specs() if any(spec.strategy(system).sensor for system in spec.systems)]
    missing = False
    for outcome in wake_triggers.install(engine, wake_triggers.catalog_tables(watched), add=add):
        click.echo(f"wake trigger on {outcome.table}: {outcome.state}" if outcome.covered or not add
                   else outcome.line)
        missing = missing or not outcome.covered
    if missing and not add:
        click.echo("catalog tables without the wake trigger are seen at the daemon's next look (within 5 s); "
                   "`zensync db upgrade --wake-triggers` adds it (docs/operations.md, 'The wake trigger on "
                   "PostgreSQL', says what it costs the table's writers)")


@main.command()
@click.option("--customers", type=click.IntRange(min=0), default=0, help="Demo customers to have (ids 1..N).")
@click.option("--invoices", type=click.IntRange(min=0), default=0,
              help="Demo invoices to have (ids 1..N), with their lines; seeds 50 customers when --customers is 0.")
@click.option("--plans", type=click.IntRange(min=0), default=0, help="Demo billing plans to have (ids 1..N).")
@click.option("--subscriptions", type=click.IntRange(min=0), default=0,
              help="Demo subscriptions to have (ids 1..N) over the demo customers and plans; seeds 50 customers and "
                   "20 plans when --customers and --plans are 0.")
@click.option("--seed", "rng_seed", type=int, default=42, show_default=True, help="RNG seed for the demo rows.")
def seed(customers: int, invoices: int, plans: int, subscriptions: int, rng_seed: int) -> None:
    """Write deterministic demo rows into the catalog database (missing ones only)."""
    from ..demo.invoices import seed_invoices
    from ..demo.seed import seed_customers

    if not (customers or invoices or plans or subscriptions):
        raise click.UsageError("nothing to seed: give --customers N, --invoices M, --plans P and/or --subscriptions "
                               "S (e.g. zensync seed --customers 500); see zensync seed --help")
    from ..demo.tables import add_missing_columns

    url, engine = preflight.database()
    migrate.upgrade(engine)
    add_missing_columns(engine)  # a demo database made before tenants, or before payments' `refunded`
    customers = customers or (50 if invoices or subscriptions else 0)  # invoices need customers to belong to
    now = dt.datetime.now(dt.timezone.utc)  # new rows land after any change sensor's cursor
    if customers:
        added = seed_customers(engine, customers, rng_seed, stamp=now)
        click.echo(f"customers: {added} added ({customers} wanted) in {redact(url)}")
    if invoices:
        added_invoices, added_lines = seed_invoices(engine, invoices, customers, rng_seed, stamp=now)
        click.echo(f"invoices: {added_invoices} added ({invoices} wanted), {added_lines} lines")
    if plans:
        from ..demo.plans import seed_plans

        click.echo(f"plans: {seed_plans(engine, plans, rng_seed, stamp=now)} added ({plans} wanted)")
    if subscriptions:
        from ..demo.subscriptions import seed_subscriptions

        added = seed_subscriptions(engine, subscriptions, customers, plans or 20, rng_seed, stamp=now)
        click.echo(f"subscriptions: {added} added ({subscriptions} wanted)")


@main.command()
@click.option("--port", type=int, default=3000, show_default=True, help="Port of the Dagster UI on 127.0.0.1.")
@click.option("--stripe-port", type=int, default=12111, show_default=True, help="Port of the Stripe sandbox.")
@click.option("--salesforce-port", type=int, default=12112, show_default=True, help="Port of the Salesforce sandbox.")
@click.option("--customers", type=click.IntRange(min=0), default=500, show_default=True,
              help="Demo customers to seed when the catalog is empty.")
@click.option("--webhook-port", type=int, default=8787, show_default=True,
              help="Port of the webhook receiver the Stripe sandbox delivers to.")
@click.option("--tenants", type=click.IntRange(min=0, max=999), default=0, show_default=True,
              help="Also register tenants t1..tN, each on its own Stripe connected account and Salesforce org, "
                   "with --customers customers each, and sync them.")
def dev(port: int, stripe_port: int, salesforce_port: int, customers: int, webhook_port: int, tenants: int) -> None:
    """Run everything locally: catalog, Stripe and Salesforce sandboxes, the webhook receiver, and the Dagster UI
    with sensors on."""
    from .dev import run_dev

    raise SystemExit(run_dev(port, stripe_port, salesforce_port, customers, webhook_port, tenants))


main.add_command(sandbox)
main.add_command(webhooks)
main.add_command(tenants)
main.add_command(worker)
for operator_command in [*OPERATOR_COMMANDS, *INBOUND_COMMANDS, status]:  # sync, plan, retry, explain, inbound, poll,
    # status
    main.add_command(operator_command)
