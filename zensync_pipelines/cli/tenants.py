"""`zensync tenants`: the registry of tenants (docs/tenants.md). Every bad input ends in one line and exit code 1;
no command prints a secret, only how it is kept (its reference, or that it is encrypted)."""

from __future__ import annotations

import functools
import json
import os
from typing import Any, Callable, Optional

import click
from rich.table import Table

from ..store import secrets
from ..store.tenant_fields import SALESFORCE_FLOWS, SECRET_FIELDS, Tenant, TenantError
from .ops_view import console

# Flag -> the tenant field it sets; secret flags take a reference (env:NAME, file:/path#ENTRY).
SETTINGS = (
    ("--name", "name", "A display name."),
    ("--stripe-account", "stripe_account", "Stripe account id (acct_...): a connected account reached with the "
                                           "platform's key (Stripe-Account), or, with --stripe-key, the key's own."),
    ("--stripe-key", "stripe_key", "The tenant's own Stripe secret key, as a reference (secret)."),
    ("--stripe-webhook-secret", "stripe_webhook_secret", "The signing secret of the tenant's own webhook endpoint "
                                                         "(/webhooks/stripe/<tenant>), as a reference (secret)."),
    ("--salesforce-org", "salesforce_org", "Salesforce org id (00D..., 15 or 18 characters)."),
    ("--salesforce-login-url", "salesforce_login_url", "Where to log in (default: SALESFORCE_LOGIN_URL, else "
                                                       "login.salesforce.com)."),
    ("--salesforce-instance-url", "salesforce_instance_url", "The org's instance URL."),
    ("--salesforce-username", "salesforce_username", "Integration user."),
    ("--salesforce-client-id", "salesforce_client_id", "Connected app consumer key (default for the refresh-token "
                                                       "flow: SALESFORCE_CLIENT_ID)."),
    ("--salesforce-client-secret", "salesforce_client_secret", "Connected app consumer secret (secret)."),
    ("--salesforce-password", "salesforce_password", "The user's password (secret)."),
    ("--salesforce-security-token", "salesforce_security_token", "The user's security token (secret)."),
    ("--salesforce-refresh-token", "salesforce_refresh_token", "The connected app's OAuth refresh token for the "
                                                               "org (secret)."),
)


def _settings(command: Callable[..., Any]) -> Callable[..., Any]:
    for flag, name, text in reversed(SETTINGS):
        command = click.option(flag, name, help=text)(command)
    command = click.option("--salesforce-auth-flow", "salesforce_auth_flow", type=click.Choice(SALESFORCE_FLOWS),
                           help="Force a login flow (default auto: chosen by the settings given).")(command)
    return click.option("--encrypt", is_flag=True, help="Read each secret reference now and store its value "
                        "encrypted with ZENSYNC_SECRETS_KEY instead of the reference.")(command)


def _one_line(command: Callable[..., Any]) -> Callable[..., Any]:
    """Registry and secret refusals become `Error: <line>` with exit code 1, never a traceback."""

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except (TenantError, secrets.SecretError) as error:
            raise click.ClickException(" ".join(str(error).split())) from None

    return run


def _store() -> Any:
    from ..store import migrate
    from ..store.tenants import TenantStore
    from .preflight import database

    _, engine = database()
    migrate.upgrade(engine)
    return TenantStore(engine)


def _stored(values: dict[str, Any], encrypt: bool) -> dict[str, Any]:
    """The given settings, secrets as their stored form: the checked reference, or its value encrypted."""
    given = {name: value for name, value in values.items() if value is not None}
    for name in SECRET_FIELDS:
        if name in given:
            ref = secrets.reference(given[name], name)
            given[name] = secrets.encrypt(secrets.resolve(ref, name)) if encrypt else ref
    return given


def _partitions(store: Any, *, flipped_to: Optional[str] = None) -> None:
    """Bring the Dagster instance's tenant partitions in line with the registry now, where the instance is known
    (DAGSTER_HOME, or `zensync dev`'s). The registry is the truth: if the instance cannot be reached, one line says
    so and the zensync_tenant_partitions sensor heals it; the command still succeeds."""
    from ..dagster_defs.partition_choice import PARTITION_BY
    from ..dagster_defs.tenant_partitions import PARTITIONS_SENSOR, sync_partitions
    from .. import config

    # DAGSTER_HOME, else the instance `zensync dev` made, only if it exists: a registry command creates no instance.
    explicit = os.environ.get("DAGSTER_HOME")
    home = explicit or str(config.data_dir() / "dagster_home")
    if explicit or os.path.isdir(home):
        try:
            from dagster import DagsterInstance

            with DagsterInstance.from_config(home) as instance:
                added, deleted = sync_partitions(instance, store.engine)
            if added or deleted:
                click.echo(f"tenant partitions: added {', '.join(added) or 'none'}, deleted "
                           f"{', '.join(deleted) or 'none'}")
        except Exception as error:  # noqa: BLE001 - the sensor heals it; the cause may name paths or URLs
            click.echo(f"the Dagster instance at {home} could not be updated ({type(error).__name__}): the "
                       f"{PARTITIONS_SENSOR} sensor brings its tenant partitions in line", err=True)
    if flipped_to and (os.environ.get(PARTITION_BY) or "auto").strip().lower() == "auto":
        click.echo(f"the copies of catalogs with a tenant column are partitioned by {flipped_to} once the code "
                   f"location reloads (UI: Deployment > Reload; or restart it)")


@click.group()
def tenants() -> None:
    """The tenants of this deployment: each business's Stripe account and Salesforce org."""


@tenants.command()
@click.argument("tenant_id")
@_settings
@click.option("--disabled", is_flag=True, help="Register it disabled (nothing syncs until it is enabled).")
@_one_line
def add(tenant_id: str, encrypt: bool, disabled: bool, **values: Any) -> None:
    """Register a tenant and how to reach its Stripe account and Salesforce org."""
    store = _store()
    first = not store.list()
    tenant = store.add(Tenant(id=tenant_id, status="disabled" if disabled else "active",
                              **_stored(values, encrypt)))
    click.echo(f"tenant {tenant.id} added ({tenant.status})")
    _partitions(store, flipped_to="tenant" if first else None)


@tenants.command()
@click.argument("tenant_id")
@_settings
@_one_line
def update(tenant_id: str, encrypt: bool, **values: Any) -> None:
    """Change settings of a tenant (only those given)."""
    changes = _stored(values, encrypt)
    if not changes:
        raise click.ClickException("nothing to change: give at least one setting (see zensync tenants update --help)")
    _store().update(tenant_id, **changes)
    click.echo(f"tenant {tenant_id} updated: {', '.join(sorted(changes))}")


def _summary(tenant: Tenant) -> dict[str, Any]:
    """What scripts read (`list --json`): never a secret, not even its reference."""
    return {"id": tenant.id, "status": tenant.status, "name": tenant.name,
            "stripe_account": tenant.stripe_account if tenant.stripe_connect else None,
            "stripe_auth": "connect" if tenant.stripe_connect else "own_key" if tenant.stripe_key else None,
            "stripe_own_account": tenant.stripe_account if tenant.stripe_key else None,
            "salesforce_org": tenant.salesforce_org}


@tenants.command(name="list")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per tenant and line, for scripts.")
@click.option("--status", type=click.Choice(["active", "disabled"]), help="Only tenants in this status.")
@_one_line
def list_(as_json: bool, status: Optional[str]) -> None:
    """Every tenant: status, Stripe account, Salesforce org."""
    found = _store().list(status)
    if as_json:
        for tenant in found:
            click.echo(json.dumps(_summary(tenant)))
        return
    table = Table("tenant", "status", "stripe", "stripe account", "salesforce org", "name", title="Tenants")
    for tenant in found:
        s = _summary(tenant)
        table.add_row(tenant.id, tenant.status, s["stripe_auth"] or "-", tenant.stripe_account or "-",
                      tenant.salesforce_org or "-", tenant.name or "-")
    console().print(table)


@tenants.command()
@click.argument("tenant_id")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@_one_line
def show(tenant_id: str, as_json: bool) -> None:
    """One tenant's settings; secrets only as their reference or `encrypted`."""
    tenant = _store().get(tenant_id)
    shown = {name: secrets.describe(value) if name in SECRET_FIELDS else value
             for name, value in vars(tenant).items()}
    shown |= {"created_at": str(tenant.created_at), "updated_at": str(tenant.updated_at)}
    if as_json:
        click.echo(json.dumps(shown))
        return
    table = Table("setting", "value", title=f"Tenant {tenant.id}")
    for name, value in shown.items():
        table.add_row(name, "-" if value is None else str(value))
    console().print(table)


@tenants.command()
@click.argument("tenant_id")
@_one_line
def disable(tenant_id: str) -> None:
    """Stop syncing a tenant: its runs are not started, its inbound events refused."""
    _store().disable(tenant_id)
    click.echo(f"tenant {tenant_id} disabled")


@tenants.command()
@click.argument("tenant_id")
@_one_line
def enable(tenant_id: str) -> None:
    """Sync a disabled tenant again."""
    store = _store()
    store.enable(tenant_id)
    click.echo(f"tenant {tenant_id} enabled")
    _partitions(store)


@tenants.command()
@click.argument("tenant_id")
@click.option("--forget", is_flag=True, help="Also delete its mappings: objects zensync made in its Stripe "
                                            "account and org are no longer known as zensync's.")
@_one_line
def remove(tenant_id: str, forget: bool) -> None:
    """Remove a tenant and its rows in zensync's tables; refused while it has mappings, unless --forget."""
    store = _store()
    deleted = store.remove(tenant_id, forget=forget)
    rows = ", ".join(f"{count} from {name}" for name, count in sorted(deleted.items()))
    click.echo(f"tenant {tenant_id} removed" + (f" (deleted {rows})" if rows else ""))
    _partitions(store, flipped_to=None if store.list() else "month")


@tenants.command()
@click.option("--old-key-env", default=secrets.OLD_KEY_VARIABLE, show_default=True, metavar="NAME",
              help="Environment variable holding the old key.")
@_one_line
def rekey(old_key_env: str) -> None:
    """Re-encrypt every encrypted secret under ZENSYNC_SECRETS_KEY (the new key), in one transaction; the old key
    comes from ZENSYNC_SECRETS_KEY_OLD."""
    if not os.environ.get(old_key_env):
        raise click.ClickException(f"{old_key_env} is not set: it must hold the key the secrets are encrypted "
                                   f"with now (ZENSYNC_SECRETS_KEY holds the new one)")
    count = _store().rekey(secrets.keys(old_variable=old_key_env))
    click.echo(f"{count} secrets re-encrypted under {secrets.KEY_VARIABLE}; {old_key_env} can be retired")


@tenants.command(name="new-key")
def new_key() -> None:
    """Print a new random key for ZENSYNC_SECRETS_KEY."""
    from cryptography.fernet import Fernet

    click.echo(Fernet.generate_key().decode())
