"""A registered tenant's way into its Stripe account and Salesforce org, with its secrets resolved: what a run
for that tenant builds its adapters from.

Stripe: the tenant's own key, or the platform's key (STRIPE_API_KEY) with `Stripe-Account: <its account>`.
Salesforce: the tenant's login settings; a tenant on the refresh-token flow that names no connected app of its own
uses the platform's (SALESFORCE_CLIENT_ID / SALESFORCE_CLIENT_SECRET), as a multi-org integration has one app.
Nothing else falls back to the deployment's settings: a tenant's username or token never comes from another org.
Values are resolved when asked for and live only in these objects, whose repr hides them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Mapping, Optional

from .. import config
from ..store import secrets
from ..store.tenant_fields import ACTIVE, Tenant, TenantError
from .salesforce.auth import OAUTH_REFRESH_TOKEN, Credentials


@dataclass(frozen=True)
class StripeAccess:
    api_key: str = field(repr=False)
    stripe_account: Optional[str]  # sent as Stripe-Account; None with the tenant's own key
    api_base: str


@dataclass(frozen=True)
class TenantAccess:
    tenant: str
    stripe: Optional[StripeAccess]
    salesforce: Optional[Credentials]
    salesforce_org: Optional[str]


def resolve(tenant: Tenant, environ: Optional[Mapping[str, str]] = None) -> TenantAccess:
    """Both systems' settings of an active tenant; a disabled tenant is refused (it must not be synced)."""
    if tenant.status != ACTIVE:
        raise TenantError(f"tenant {tenant.id} is {tenant.status}: enable it first (zensync tenants enable)")
    return TenantAccess(tenant.id, stripe_access(tenant, environ), salesforce_credentials(tenant, environ),
                        tenant.salesforce_org)


def stripe_access(tenant: Tenant, environ: Optional[Mapping[str, str]] = None) -> Optional[StripeAccess]:
    environ = os.environ if environ is None else environ
    if not tenant.uses_stripe:
        return None
    base = environ.get(config.STRIPE_API_BASE) or config.STRIPE_DEFAULT_BASE
    if tenant.stripe_key:
        return StripeAccess(_secret(tenant, "stripe_key", environ), None, base)
    if not environ.get(config.STRIPE_API_KEY):
        raise secrets.SecretError(f"tenant {tenant.id}: Stripe Connect uses the platform's key, and "
                                  f"{config.STRIPE_API_KEY} is not set")
    return StripeAccess(environ[config.STRIPE_API_KEY], tenant.stripe_account, base)


def salesforce_credentials(tenant: Tenant, environ: Optional[Mapping[str, str]] = None) -> Optional[Credentials]:
    environ = os.environ if environ is None else environ
    if not tenant.uses_salesforce:
        return None
    client_id, client_secret = tenant.salesforce_client_id, _secret(tenant, "salesforce_client_secret", environ)
    refresh = tenant.salesforce_refresh_token and tenant.salesforce_auth_flow in (None, "auto", OAUTH_REFRESH_TOKEN)
    if refresh and not client_id:
        client_id = environ.get(config.SALESFORCE_CLIENT_ID)
        client_secret = client_secret or environ.get(config.SALESFORCE_CLIENT_SECRET)
    credentials = Credentials(
        login_url=tenant.salesforce_login_url or environ.get(config.SALESFORCE_LOGIN_URL) or
        config.SALESFORCE_DEFAULT_LOGIN_URL,
        flow=tenant.salesforce_auth_flow or "auto", username=tenant.salesforce_username,
        password=_secret(tenant, "salesforce_password", environ),
        security_token=_secret(tenant, "salesforce_security_token", environ),
        client_id=client_id, client_secret=client_secret, instance_url=tenant.salesforce_instance_url,
        refresh_token=_secret(tenant, "salesforce_refresh_token", environ))
    if credentials.login_flow() is None:
        raise TenantError(f"tenant {tenant.id}: its Salesforce settings allow no login (give a refresh token and "
                          f"a connected app, a username and password, or a client id and secret)")
    return credentials


def _secret(tenant: Tenant, name: str, environ: Mapping[str, str]) -> Optional[str]:
    stored = getattr(tenant, name)
    return secrets.resolve(stored, f"tenant {tenant.id}: {name}", environ) if stored else None
