"""The checks of a copy partitioned by tenant: the run's tenant checked now, every tenant's last outcome told.

Why not partitioned checks: Dagster records a partitioned check's result under the run's partition only when the
run targets one (AssetCheckResult.to_asset_check_evaluation in Dagster 1.13); the sensors' runs, most runs, target
none and are told their tenant by a tag, so per-partition results would stay stale for exactly the runs that keep
the copies in sync. So each check stays one check per copy: it checks the run's tenant (cheap: that tenant's part
of the indexes), keeps that outcome (store/check_results.py), and passes only while every active tenant's last
outcome passed. Its metadata names the failing tenants with a one-line reason each and holds the run's tenant's
details as before; the copy's tenant partitions show when each tenant last synced and with which counts.
"""

from __future__ import annotations

from typing import Any, Callable

from dagster import AssetCheckExecutionContext, AssetCheckResult, MetadataValue

from ..engine.spec import CatalogSpec
from ..store import check_results
from ..store.tables import DEFAULT_TENANT
from .check_bodies import Found
from .scope import RANGE_END, RANGE_START, TENANT_TAG

TENANTS_SHOWN = 50
PARTITION_TAG = "dagster/partition"


def check_tenant(context: AssetCheckExecutionContext, spec: CatalogSpec) -> str:
    """The tenant of the run the check runs in: its tag, or its tenant partition (a partition launched from the
    asset's page or by a backfill carries no zensync tag), else the default tenant. Never the partition key API:
    it fails in a run without a partition."""
    tags = context.run.tags
    if TENANT_TAG in tags:
        return tags[TENANT_TAG]
    if spec.tenant_partitions:
        # One partition's run: its key, or (a backfill's run) a range of that one key.
        partition = tags.get(PARTITION_TAG) or (tags.get(RANGE_START) if tags.get(RANGE_START) == tags.get(RANGE_END)
                                                else None)
        if partition:
            return partition
    return DEFAULT_TENANT


def per_tenant(context: AssetCheckExecutionContext, spec: CatalogSpec, system: str, name: str,
               body: Callable[[AssetCheckExecutionContext, CatalogSpec, str, str], Found]) -> AssetCheckResult:
    """Without tenant partitions: the check as before tenants (the default tenant's rows). With them: see above."""
    if not spec.tenant_partitions:
        return body(context, spec, system, DEFAULT_TENANT)[0]
    tenant = check_tenant(context, spec)
    result, summary = body(context, spec, system, tenant)
    engine = context.resources.catalog_db.engine()
    check_results.keep(engine, tenant, spec.name, system, name, result.passed, summary)
    counted = check_results.every_tenant(engine, spec.name, system, name)  # the synced tenants' only
    failing = sorted(t for t, o in counted.items() if not o["passed"])
    metadata: dict[str, Any] = dict(result.metadata or {})
    metadata |= {"tenant": MetadataValue.text(tenant),
                 "tenant_summary": MetadataValue.text(summary),
                 "tenants_checked": MetadataValue.int(len(counted)),
                 "tenants_failing": MetadataValue.int(len(failing)),
                 "failing_tenants": MetadataValue.text(_listed(failing)),
                 "tenants": MetadataValue.md(_table(counted, failing))}
    description = f"{len(failing)} of {len(counted)} tenants fail: " + "; ".join(
        f"{t} ({counted[t]['summary']})" for t in failing[:10]) + (" ..." if len(failing) > 10 else "") \
        if failing else f"every tenant passes ({len(counted)} checked)"
    return AssetCheckResult(passed=not failing, severity=result.severity, metadata=metadata,
                            description=description)


def _listed(tenants: list[str]) -> str:
    shown = ", ".join(tenants[:TENANTS_SHOWN])
    return shown + (f" and {len(tenants) - TENANTS_SHOWN} more" if len(tenants) > TENANTS_SHOWN else "") or "none"


def _table(outcomes: dict[str, dict[str, Any]], failing: list[str]) -> str:
    """Failing tenants first, then the others, at most TENANTS_SHOWN rows."""
    order = failing + sorted(t for t in outcomes if t not in failing)
    lines = ["| tenant | passed | summary | checked at |", "|---|---|---|---|"]
    lines += [f"| {t} | {'yes' if outcomes[t]['passed'] else 'no'} | {outcomes[t]['summary']} | {outcomes[t]['at']} |"
              for t in order[:TENANTS_SHOWN]]
    if len(order) > TENANTS_SHOWN:
        lines.append(f"\n{len(order) - TENANTS_SHOWN} more tenants not shown.")
    return "\n".join(lines)
