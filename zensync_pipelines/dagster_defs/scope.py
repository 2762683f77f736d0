"""Which rows a run of an external copy reads: one month, a range of months, the changes, or everything.

External copies are partitioned by month of the catalog's created-at column, so a backfill of history is a
partition range. Whole-catalog runs (sensor, reconcile, a launch without a partition) target no partition and say
with a tag which rows they read: the changed ones, or all of them. Every run materializes each month it touched
with that month's own outcomes, so the event log grows with the months a run touched, not the catalog's age.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from dagster import AssetExecutionContext, MonthlyPartitionsDefinition

from ..engine.spec import CatalogSpec
from ..engine.sync import Selection
from ..store.changes import decode, encode
from ..store.tables import DEFAULT_TENANT

SCOPE_TAG = "zensync/scope"
CHANGED_SINCE_TAG = "zensync/changed_since"
IDS_TAG = "zensync/ids"  # comma-separated internal ids: a retry of these rows only (retry sensor, zensync retry)
CHANGES, RECONCILE, RETRY = "changes", "reconcile", "retry"
# The tenant whose rows a run syncs (its stores are bound to it); absent: the default tenant, as before tenants.
TENANT_TAG = "zensync/tenant"
TENANT_LENGTH = 100  # the tenant column's size in zensync's tables
# On every run of a copy's two jobs: the instance runs one per value at a time (tag_concurrency_limits), so two
# runs never sync the same rows at once, while other copies of the same system go on beside them.
COPY_TAG = "zensync/copy"
RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def copy_tags(spec: CatalogSpec, system: str, tenant: str = DEFAULT_TENANT) -> dict[str, str]:
    """The copy's tag; a tenant's copy is its own (two tenants' customers syncs run side by side)."""
    return {COPY_TAG: f"{spec.name}.{system}" if tenant == DEFAULT_TENANT else f"{tenant}:{spec.name}.{system}"}


def partitions_def(spec: CatalogSpec) -> MonthlyPartitionsDefinition:
    # end_offset=1 adds the current month, so rows created today already belong to a partition.
    return MonthlyPartitionsDefinition(start_date=spec.partition_start, end_offset=1)


def month_grouper(spec: CatalogSpec) -> Callable[[Mapping[str, Any]], str]:
    """The partition a row's outcomes count in: its created-at month, rows older than partition_start (or without
    a created-at) in the first month, rows stamped in the future in the last. The first and last keys are read
    once: Dagster computes them by walking the cron schedule (~2 ms), which per row would dominate a large run."""
    partitions = partitions_def(spec)
    first, last = partitions.get_first_partition_key(), partitions.get_last_partition_key()
    column = spec.created_at_column

    def month(row: Mapping[str, Any]) -> str:
        created = row.get(column)
        if isinstance(created, str):
            created = dt.datetime.fromisoformat(created)
        if not isinstance(created, (dt.datetime, dt.date)):
            return first
        return min(max(f"{created.year:04d}-{created.month:02d}-01", first), last)

    return month


def month_of(spec: CatalogSpec, row: Mapping[str, Any]) -> str:
    """One row's month (see month_grouper; a run groups many rows with one grouper)."""
    return month_grouper(spec)(row)


def needs_partitions(spec: CatalogSpec) -> bool:
    """True for a catalog that references another (invoices -> customers): its external copies depend on the
    other catalog's partitioned copies, and Dagster cannot run an asset without a partition once a partitioned
    upstream asset has a materialization. Its whole-catalog runs therefore target every month (each month then
    recorded with its own counts); the whole-catalog op job (`sync_<catalog>_<system>_all`) is not affected."""
    return any(spec.references(system) for system in spec.systems)


def partition_tags(spec: CatalogSpec) -> dict[str, str]:
    """The tags of a whole-catalog run of the asset job: none, or every month for a catalog that needs them."""
    if not needs_partitions(spec):
        return {}
    partitions = partitions_def(spec)
    return {RANGE_START: partitions.get_first_partition_key(), RANGE_END: partitions.get_last_partition_key()}


def whole_catalog_tags(spec: CatalogSpec, scope: str, changed_since: Any = None) -> dict[str, str]:
    """Run tags for a whole-catalog run that reads the changes since `changed_since`, or every row."""
    tags = partition_tags(spec) | {SCOPE_TAG: scope}
    if changed_since is not None:
        tags[CHANGED_SINCE_TAG] = encode(changed_since)
    return tags


def tenant_tags(tenant: str) -> dict[str, str]:
    """The tag of a run for `tenant`: none for the default tenant, so its runs look exactly as before."""
    return {} if tenant == DEFAULT_TENANT else {TENANT_TAG: tenant}


def run_tenant(context: Any) -> str:
    """The tenant a run (asset or op) syncs, from its tag; refused when it could not be stored."""
    tenant = context.run.tags.get(TENANT_TAG) or DEFAULT_TENANT
    if len(tenant) > TENANT_LENGTH or not tenant.isprintable() or tenant != tenant.strip():
        raise ValueError(f"run tag {TENANT_TAG}: a tenant is at most {TENANT_LENGTH} printable characters without "
                         f"surrounding spaces")
    return tenant


@dataclass(frozen=True)
class RunScope:
    selection: Selection
    description: str
    delete_missing: bool = False  # only a reconcile looks for rows hard-deleted from the catalog
    problem_rows: bool = False  # a retry of every row not synced: their ids come from the mapping table


def run_scope(context: AssetExecutionContext, spec: CatalogSpec) -> RunScope:
    tags = context.run.tags
    scope = tags.get(SCOPE_TAG)
    if scope == CHANGES:
        since = decode(tags[CHANGED_SINCE_TAG]) if CHANGED_SINCE_TAG in tags else None
        return RunScope(Selection(changed_since=since), f"rows changed since {since}" if since else "every row")
    if scope == RECONCILE:
        return RunScope(Selection(), "every row, and rows deleted from the catalog", delete_missing=True)
    if scope == RETRY:
        ids = [i.strip() for i in tags.get(IDS_TAG, "").split(",") if i.strip()]
        if ids:
            shown = ", ".join(ids[:20]) + (f" and {len(ids) - 20} more" if len(ids) > 20 else "")
            return RunScope(Selection(ids=ids), f"{len(ids)} rows due for a retry ({shown})")
        return RunScope(Selection(), "every row not synced (failed, invalid, waiting, pending)", problem_rows=True)
    if scope is not None:
        raise ValueError(f"run tag {SCOPE_TAG}={scope!r} is not one of {CHANGES!r}, {RECONCILE!r}, {RETRY!r}")
    if not (context.has_partition_key or context.has_partition_key_range):
        return RunScope(Selection(), "every row")  # an unpartitioned run, e.g. materialize() from Python
    partitions = partitions_def(spec)
    keys = context.partition_key_range
    if (keys.start, keys.end) == (partitions.get_first_partition_key(), partitions.get_last_partition_key()):
        # Every month selected: also take rows created before partition_start, or the run would skip them.
        return RunScope(Selection(), "every row (all partitions)")
    window = context.partition_time_window
    return RunScope(Selection(created_from=window.start, created_before=window.end),
                    f"rows created in [{window.start:%Y-%m-%d}, {window.end:%Y-%m-%d})")
