"""A tenant's row (`zensync_tenants`) and the checks of its identifiers, each failing with one line that names the
field and the reason."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field, fields, replace
from typing import Optional

ACTIVE, DISABLED = "active", "disabled"
# A slug, because the id goes into Dagster partition keys and run tags, state keys and idempotency keys.
_TENANT_ID = re.compile(r"[a-z0-9](?:[a-z0-9_-]{0,61}[a-z0-9])?")
# The tenant of every row of a deployment without tenants (the tables' server default): never a registered one.
RESERVED = {"default"}
_ACCOUNT = re.compile(r"acct_[A-Za-z0-9]{1,250}")
_ORG = re.compile(r"00D[A-Za-z0-9]{12}(?:[A-Za-z0-9]{3})?")
_SUFFIX = "ABCDEFGHIJKLMNOPQRSTUVWXYZ012345"
# The login flows of systems/salesforce/auth.py (a test keeps the two lists equal).
SALESFORCE_FLOWS = ("auto", "oauth_refresh_token", "oauth_password", "oauth_client_credentials", "soap", "session")
SECRET_FIELDS = ("stripe_key", "stripe_webhook_secret", "salesforce_client_secret", "salesforce_password",
                 "salesforce_security_token", "salesforce_refresh_token")
SALESFORCE_FIELDS = ("salesforce_login_url", "salesforce_instance_url", "salesforce_auth_flow",
                     "salesforce_username", "salesforce_client_id", "salesforce_client_secret", "salesforce_password",
                     "salesforce_security_token", "salesforce_refresh_token")


class TenantError(ValueError):
    """Bad input to the registry: one line naming the tenant, the field and the reason."""


@dataclass(frozen=True)
class Tenant:
    """A registered tenant. Secret fields hold the stored form (a reference or a Fernet token), never a value."""

    id: str
    status: str = ACTIVE
    name: Optional[str] = None
    stripe_account: Optional[str] = None
    stripe_key: Optional[str] = field(default=None, repr=False)
    # The signing secret of the tenant's own webhook endpoint (its own Stripe account, or an endpoint created in
    # its connected account): the receiver's /webhooks/stripe/<tenant> verifies with it.
    stripe_webhook_secret: Optional[str] = field(default=None, repr=False)
    salesforce_org: Optional[str] = None
    salesforce_login_url: Optional[str] = None
    salesforce_instance_url: Optional[str] = None
    salesforce_auth_flow: Optional[str] = None
    salesforce_username: Optional[str] = None
    salesforce_client_id: Optional[str] = None
    salesforce_client_secret: Optional[str] = field(default=None, repr=False)
    salesforce_password: Optional[str] = field(default=None, repr=False)
    salesforce_security_token: Optional[str] = field(default=None, repr=False)
    salesforce_refresh_token: Optional[str] = field(default=None, repr=False)
    created_at: Optional[dt.datetime] = None
    updated_at: Optional[dt.datetime] = None

    @property
    def uses_stripe(self) -> bool:
        return bool(self.stripe_account or self.stripe_key)

    @property
    def stripe_connect(self) -> bool:
        """Reached with the platform's key and `Stripe-Account`, rather than with its own key."""
        return bool(self.stripe_account and not self.stripe_key)

    @property
    def uses_salesforce(self) -> bool:
        return bool(self.salesforce_org)


COLUMNS = tuple(f.name for f in fields(Tenant))


def tenant_id(value: str) -> str:
    if not _TENANT_ID.fullmatch(value or ""):
        raise TenantError(f"tenant id {value!r}: use 1-63 lowercase letters, digits, '-' or '_', starting and "
                          f"ending with a letter or digit")
    if value in RESERVED:
        raise TenantError(f"tenant id {value!r} is reserved for the rows of a deployment without tenants")
    return value


def stripe_account(value: str, tenant: str) -> str:
    if not _ACCOUNT.fullmatch(value):
        raise TenantError(f"tenant {tenant}: stripe_account {value!r} is not a Stripe account id (acct_...)")
    return value


def salesforce_org(value: str, tenant: str) -> str:
    """The org id in its 18-character form, so that the 15- and 18-character ids of one org are one value."""
    if not _ORG.fullmatch(value):
        raise TenantError(f"tenant {tenant}: salesforce_org {value!r} is not an org id (00D + 12 or 15 "
                          f"characters)")
    full = value[:15] + _suffix(value[:15])
    if len(value) == 18 and value[15:].upper() != full[15:]:
        raise TenantError(f"tenant {tenant}: salesforce_org {value!r} has a wrong checksum (its last 3 "
                          f"characters); the 18-character form of {value[:15]} is {full}")
    return full


def _suffix(id15: str) -> str:
    """Salesforce's case-safe suffix: one character per 5, encoding which of them are upper case."""
    return "".join(_SUFFIX[sum(1 << i for i, c in enumerate(id15[n:n + 5]) if "A" <= c <= "Z")]
                   for n in range(0, 15, 5))


def check(tenant: Tenant) -> Tenant:
    """The tenant with its identifiers checked and normalised; its settings consistent."""
    tenant_id(tenant.id)
    if tenant.status not in (ACTIVE, DISABLED):
        raise TenantError(f"tenant {tenant.id}: status {tenant.status!r} is not {ACTIVE} or {DISABLED}")
    changes: dict[str, str] = {}
    if tenant.stripe_account:
        changes["stripe_account"] = stripe_account(tenant.stripe_account, tenant.id)
    if tenant.salesforce_org:
        changes["salesforce_org"] = salesforce_org(tenant.salesforce_org, tenant.id)
    elif any(getattr(tenant, name) for name in SALESFORCE_FIELDS):
        raise TenantError(f"tenant {tenant.id}: Salesforce settings need the org id (salesforce_org, 00D...)")
    flow = tenant.salesforce_auth_flow
    if flow and flow not in SALESFORCE_FLOWS:
        raise TenantError(f"tenant {tenant.id}: salesforce_auth_flow {flow!r} is not one of "
                          f"{', '.join(SALESFORCE_FLOWS)}")
    if flow == "oauth_refresh_token" and not tenant.salesforce_refresh_token:
        raise TenantError(f"tenant {tenant.id}: the oauth_refresh_token flow needs salesforce_refresh_token")
    return replace(tenant, **changes)
