"""`zensync dev --tenants N`: tenants t1..tN, each on its own connected account of the Stripe sandbox and its own org
of the Salesforce sandbox (logging in with its refresh token, as a multi-org connected app does), each with its own
demo rows. The change sensors sync them, as they would any tenant's: the first tick (or the first after the
tenants were registered) asks for a run over every row of each active tenant, per system, in its own lane.

Started again on the same data folder, a tenant keeps its account and org while the sandboxes still have them, so
its mappings stay true; one they lost is given a new one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Optional

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
