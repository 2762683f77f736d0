"""A run's way into its tenant's Stripe account and Salesforce org, and the lane it runs in.

A run syncs the tenant of its tag `zensync/tenant` (scope.run_tenant). The default tenant's run uses the system
resources as the deployment configures them, exactly as before tenants. Any other tenant's run builds its adapter
from that tenant's registry entry (systems/tenant_access.py): its own Stripe key, or the platform's key with
`Stripe-Account`; its own org's login. The deployment's resource still gives the tuning (API base, rate limit,
retries, budget share). An unknown or disabled tenant, or a secret that cannot be resolved, fails the run before
any call, with one line naming the tenant, the field and the reference, never a value.

Lanes: every run that uses a system's API carries `zensync/lane=<tenant>:<system>` (the jobs carry the default
tenant's lane, a tenant's launch overrides it), and the run queue lets one run per lane run at a time
(dagster_instance.yaml), so one tenant's runs take turns for its account's limits while other tenants run beside.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping, Optional

from dagster import Failure
from sqlalchemy import Engine

from ..store.secrets import SecretError
from ..store.tables import DEFAULT_TENANT
from ..store.tenant_fields import ACTIVE, Tenant, TenantError
from ..store.tenants import TenantStore
from ..systems.tenant_access import salesforce_credentials, stripe_access

LANE_TAG = "zensync/lane"


def lane(tenant: str, system: str) -> str:
    return f"{tenant}:{system}"


def lane_tags(tenant: str, system: str) -> dict[str, str]:
    return {LANE_TAG: lane(tenant, system)}


def check_lane(tags: Mapping[str, str], tenant: str, system: str) -> None:
    """A run in another lane than its tenant's and system's would share their limits unseen: refused. A run
    without the tag (e.g. several systems' assets at once from the UI) is not in a lane and runs as before."""
    given = tags.get(LANE_TAG)
    if given is not None and given != lane(tenant, system):
        raise Failure(description=f"run tag {LANE_TAG}={given} does not match the run: a {system} run for tenant "
                                  f"{tenant} goes in lane {lane(tenant, system)}")


def run_in_progress(instance: Any, tag: str, value: str) -> Optional[Any]:
    """The run in progress with `tag=value`, if any. `zensync sync` runs in its own process, past the run queue,
    so it asks this for its copy first; its own tags then hold the queued runs of its copy and lane back."""
    from dagster import DagsterRunStatus, RunsFilter

    records = instance.get_run_records(RunsFilter(tags={tag: value}, statuses=[
        DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]), limit=1)
    return records[0].dagster_run if records else None


class TenantSystem:
    """Stands in for a system's resource in a tenant's run: `adapter()` builds the tenant's adapter."""

    def __init__(self, build: Callable[[], Any]):
        self._build = build

    def adapter(self) -> Any:
        return self._build()


def run_system(context: Any, system: str, tenant: str) -> Any:
    """What the run builds its `system` adapter from: the configured resource, or the tenant's stand-in."""
    check_lane(context.run.tags, tenant, system)
    resource = getattr(context.resources, system)
    if tenant == DEFAULT_TENANT:
        return resource
    return tenant_system(resource, system, tenant, context.resources.catalog_db.engine())


def tenant_system(resource: Any, system: str, tenant_id: str, engine: Engine) -> TenantSystem:
    """The tenant's settings are read and its secrets resolved now, so a bad entry fails before any call."""
    try:
        tenant = TenantStore(engine).get(tenant_id)
        if tenant.status != ACTIVE:
            raise TenantError(f"tenant {tenant.id} is {tenant.status}: enable it first (zensync tenants enable)")
        if system not in BUILDERS:
            raise TenantError(f"{system} has no per-tenant settings in the registry: runs for tenant {tenant.id} "
                              f"cannot use it")
        return TenantSystem(BUILDERS[system](resource, tenant))
    except (TenantError, SecretError) as error:
        # The messages name tenant, field and reference only; the cause (a parse error may hold a file) is dropped.
        raise Failure(description=f"{system}: {error}") from None


def _stripe(resource: Any, tenant: Tenant) -> Callable[[], Any]:
    if not tenant.uses_stripe:
        raise TenantError(f"tenant {tenant.id} has no Stripe account registered (zensync tenants update "
                          f"{tenant.id} --stripe-account or --stripe-key)")
    access = stripe_access(tenant)
    if not hasattr(resource, "adapter_for"):  # the platform's Stripe is unconfigured; a tenant's own key works
        from ..systems.stripe.resource import StripeResource

        resource = StripeResource(api_key="unused", api_base=access.api_base)
    return lambda: resource.adapter_for(access.api_key, access.stripe_account)


def _salesforce(resource: Any, tenant: Tenant) -> Callable[[], Any]:
    if not tenant.uses_salesforce:
        raise TenantError(f"tenant {tenant.id} has no Salesforce org registered (zensync tenants update "
                          f"{tenant.id} --salesforce-org ...)")
    credentials = salesforce_credentials(tenant)
    if not hasattr(resource, "adapter_for"):  # no org of the deployment's own: the defaults' tuning
        from ..systems.salesforce.resource import SalesforceResource

        resource = SalesforceResource()
    return lambda: resource.adapter_for(credentials)


BUILDERS: dict[str, Callable[[Any, Tenant], Callable[[], Any]]] = {"stripe": _stripe, "salesforce": _salesforce}
