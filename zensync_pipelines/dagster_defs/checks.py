"""Asset checks on every external copy: parity with the catalog, failed rows, and how far it lags behind.

They read zensync's mapping table and the catalog, never the external system: a check costs no API call, so it
can run after every sync. Severity is WARN throughout: bad rows are data to fix, not a reason to stop syncing.
"""

from dagster import AssetCheckExecutionContext, AssetCheckResult, AssetChecksDefinition, asset_check

from ..engine.spec import CatalogSpec
from .check_bodies import drift, failed_rows, freshness, parity
from .drift import supports_read_back
from .external import external_key
from .settings import AutomationSettings
from .tenant_checks import per_tenant


def build_checks(spec: CatalogSpec, system: str, job_name: str,
                 settings: AutomationSettings) -> list[AssetChecksDefinition]:
    key = external_key(spec, system)

    @asset_check(asset=key, name="parity", required_resource_keys={"catalog_db"}, blocking=False,
                 description=f"Every live {spec.name} row has a synced {system} object of each type, as zensync's "
                             f"own tables record it: {system} itself is not read back yet, so an object removed "
                             f"there behind zensync's back still counts as synced.")
    def _parity(context: AssetCheckExecutionContext) -> AssetCheckResult:
        return per_tenant(context, spec, system, "parity", parity)

    @asset_check(asset=key, name="failed_rows", required_resource_keys={"catalog_db"}, blocking=False,
                 description=f"No {spec.name} row is failed, invalid or waiting in {system}; lists them if so.")
    def _failed_rows(context: AssetCheckExecutionContext) -> AssetCheckResult:
        return per_tenant(context, spec, system, "failed_rows", failed_rows)

    @asset_check(asset=key, name="freshness", required_resource_keys={"catalog_db"}, blocking=False,
                 description=f"No {spec.name} change waits longer than the allowed lag for a sync to {system}.")
    def _freshness(context: AssetCheckExecutionContext) -> AssetCheckResult:
        return per_tenant(context, spec, system, "freshness",
                          lambda ctx, spec_, system_, tenant: freshness(ctx, spec_, system_, tenant, job_name,
                                                                        settings))

    checks = [_parity, _failed_rows, _freshness]
    if supports_read_back(system):
        checks.append(build_drift_check(spec, system))
    return checks


def build_drift_check(spec: CatalogSpec, system: str) -> AssetChecksDefinition:
    @asset_check(asset=external_key(spec, system), name="drift", required_resource_keys={"catalog_db"},
                 blocking=False, description=f"The last read-back of {system} found every {spec.name} object as "
                                             f"zensync wrote it (the reconcile reads them back and repairs drift).")
    def _drift(context: AssetCheckExecutionContext) -> AssetCheckResult:
        return per_tenant(context, spec, system, "drift", drift)

    return _drift
