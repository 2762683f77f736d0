"""`zensync dev --tenants N`: tenants t1..tN, each on its own connected account of the Stripe sandbox and its own org
of the Salesforce sandbox (logging in with its refresh token, as a multi-org connected app does), each with its own
demo rows, synced at start by one run per tenant and copy.

Started again on the same data folder, a tenant keeps its account and org while the sandboxes still have them, so
its mappings stay true; one they lost is given a new one.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from dataclasses import dataclass
from typing import Any, Optional

import click
import stripe
from sqlalchemy import Engine

from ..demo.plans import seed_plans
from ..demo.seed import TENANT_IDS, seed_customers
from ..store.tenants import Tenant, TenantStore, UnknownTenant

PLANS = 5  # each tenant's price list; the default tenant's has 20
SYNCED = ("customers", "plans")  # the catalogs seeded per tenant (the demo's invoices stay the default tenant's)


@dataclass(frozen=True)
class DevTenant:
    id: str
    stripe_account: str
    salesforce_org: Optional[str]
    seeded: int

    def line(self) -> str:
        return (f"tenant {self.id}: Stripe account {self.stripe_account}, Salesforce org "
                f"{self.salesforce_org or '- (no Salesforce sandbox)'}, {self.seeded} rows seeded")


def refresh_variable(tenant_id: str) -> str:
    """The environment variable that holds a tenant's refresh token: the registry keeps only this reference."""
    return f"ZENSYNC_DEV_{tenant_id.upper()}_SALESFORCE_REFRESH_TOKEN"


def _stripe_account(platform: stripe.StripeClient, kept: Optional[str], tenant_id: str) -> str:
    if kept:
        try:
            if not platform.v1.accounts.retrieve(kept).to_dict().get("deleted"):
                return kept
        except stripe.StripeError:
            pass  # the sandbox lost it (a new data folder for the sandbox only): a new account below
    return platform.v1.accounts.create(params={
        "type": "custom", "country": "US", "email": f"ops@{tenant_id}.example",
        "business_profile": {"name": f"Tenant {tenant_id}"}, "metadata": {"tenant": tenant_id}}).id


def _org(sandbox: Any, kept: Optional[str], tenant_id: str, outbound_url: Optional[str]) -> Any:
    name = f"Tenant {tenant_id}"
    found = next((o for o in sandbox.orgs.all() if o.id == kept or o.name == name), None)
    org = found or sandbox.add_org(name)
    if outbound_url:
        org.outbound.configure({"*": outbound_url})
    return org


def register_tenants(engine: Engine, count: int, api_key: str, stripe_url: str, salesforce: Any,
                     outbound_url: Optional[str], customers: int) -> tuple[list[DevTenant], dict[str, str]]:
    """Register (or keep) t1..t`count` and seed their rows; returns them and the environment their runs need (each
    org's refresh token, named by its tenant's `env:` reference)."""
    store, environment, made = TenantStore(engine), {}, []
    platform = stripe.StripeClient(api_key, base_addresses={"api": stripe_url}, max_network_retries=0)
    now = dt.datetime.now(dt.timezone.utc)  # the rows land after any change sensor's cursor
    for number in range(1, count + 1):
        tenant_id = f"t{number}"
        try:
            kept: Optional[Tenant] = store.get(tenant_id)
        except UnknownTenant:
            kept = None
        settings: dict[str, Any] = {"name": f"Tenant {tenant_id}", "stripe_account": _stripe_account(
            platform, kept and kept.stripe_account, tenant_id)}
        if salesforce is not None:
            org = _org(salesforce, kept and kept.salesforce_org, tenant_id, outbound_url)
            environment[refresh_variable(tenant_id)] = salesforce.refresh_token(org.integration_user)
            settings |= {"salesforce_org": org.id, "salesforce_auth_flow": "oauth_refresh_token",
                         "salesforce_refresh_token": f"env:{refresh_variable(tenant_id)}"}
        if kept is None:
            tenant = store.add(Tenant(id=tenant_id, status="active", **settings))
        else:
            tenant = store.update(tenant_id, **settings)
        first = number * TENANT_IDS + 1
        seeded = seed_customers(engine, customers, seed=42 + number, stamp=now, tenant=tenant_id, first_id=first)
        seeded += seed_plans(engine, PLANS, seed=42 + number, stamp=now, tenant=tenant_id, first_id=first)
        made.append(DevTenant(tenant.id, settings["stripe_account"], tenant.salesforce_org, seeded))
    return made, environment


def sync_requests(tenants: list[DevTenant]) -> list[tuple[str, dict[str, str]]]:
    """(job, tags) of one run per tenant and copy, tagged as `zensync sync --tenant` tags its run: the tenant, its
    copy and its lane, so the run queue runs one per copy and two per lane."""
    from ..catalogs import load_specs
    from ..dagster_defs.factory import job_name
    from ..dagster_defs.scope import copy_tags, partition_tags, tenant_tags
    from ..dagster_defs.tenant_systems import lane_tags

    requests = []
    for tenant in tenants:
        for spec in (s for s in load_specs() if s.name in SYNCED):
            for system in spec.systems:
                if system == "salesforce" and tenant.salesforce_org is None:
                    continue
                tags = partition_tags(spec) | tenant_tags(tenant.id) | copy_tags(spec, system, tenant.id) \
                    | lane_tags(tenant.id, system)
                requests.append((job_name(spec, system), tags))
    return requests


def launch(ui_port: int, requests: list[tuple[str, dict[str, str]]], timeout: float = 120) -> list[str]:
    """Submit the runs to the Dagster webserver (they go through the run queue, as a sensor's would); their ids.
    The webserver answers before its code location has loaded: a submission is tried again until `timeout`."""
    from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

    client = DagsterGraphQLClient("127.0.0.1", port_number=ui_port, timeout=60)
    deadline, ids = time.monotonic() + timeout, []
    for job, tags in requests:
        while True:
            try:
                ids.append(client.submit_job_execution(job, tags=tags))
                break
            except DagsterGraphQLClientError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(1)
    return ids


def launch_in_background(ui_port: int, requests: list[tuple[str, dict[str, str]]]) -> threading.Thread:
    def submit() -> None:
        try:
            click.echo(f"tenants' first sync: {len(launch(ui_port, requests))} runs queued (one per tenant and copy)")
        except Exception as error:  # noqa: BLE001 - a dev convenience: say so, the stack keeps running
            click.echo(f"tenants' first sync could not be queued ({type(error).__name__}: {error}); "
                       f"run zensync sync CATALOG SYSTEM --tenant T")

    thread = threading.Thread(target=submit, name="zensync-tenant-runs", daemon=True)
    thread.start()
    return thread
