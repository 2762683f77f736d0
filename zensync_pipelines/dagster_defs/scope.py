"""Which rows a run of an external copy reads: one month, a range of months, the changes, or everything.

External copies are partitioned by month of the catalog's created-at column, so a backfill of history is a
partition range. Whole-catalog runs (sensor, reconcile, a launch without a partition) target no partition and say
with a tag which rows they read: the changed ones, or all of them. Every run materializes each month it touched
with that month's own outcomes, so the event log grows with the months a run touched, not the catalog's age.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional

from dagster import AssetExecutionContext, DynamicPartitionsDefinition, MonthlyPartitionsDefinition

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


# A run by tenant may narrow its rows to months created in [from, to] (YYYY-MM, both optional): the months
# partitions give a deployment without tenants, as run tags (docs/tenants.md, "Partitions").
FROM_TAG, TO_TAG = "zensync/from", "zensync/to"
# The one dynamic partitions set of every copy partitioned by tenant: its keys are `default` and the registered
# tenants' ids, kept in line with the registry by zensync (dagster_defs/tenant_partitions.py).
TENANT_PARTITIONS = "zensync_tenants"


def month_partitions(spec: CatalogSpec) -> MonthlyPartitionsDefinition:
    # end_offset=1 adds the current month, so rows created today already belong to a partition.
    return MonthlyPartitionsDefinition(start_date=spec.partition_start, end_offset=1)


def partitions_def(spec: CatalogSpec) -> MonthlyPartitionsDefinition | DynamicPartitionsDefinition:
    """Months of created-at, as before tenants; the tenants once the code location partitions by tenant."""
    return DynamicPartitionsDefinition(name=TENANT_PARTITIONS) if spec.tenant_partitions else month_partitions(spec)


def month_grouper(spec: CatalogSpec) -> Callable[[Mapping[str, Any]], str]:
    """The partition a row's outcomes count in: its created-at month, rows older than partition_start (or without
    a created-at) in the first month, rows stamped in the future in the last. The first and last keys are read
    once: Dagster computes them by walking the cron schedule (~2 ms), which per row would dominate a large run."""
    partitions = month_partitions(spec)
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
    if not needs_partitions(spec) or spec.tenant_partitions:  # by tenant: no partitioned upstream (external.py)
        return {}
    partitions = month_partitions(spec)
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


def partition_tenant(context: Any) -> Optional[str]:
    """The tenant partition a run targets, None for a run without one (or of months). A range of tenants is
    refused: a run is bound to one tenant's stores, and a backfill of several tenants is a run per tenant."""
    if not (getattr(context, "has_partition_key_range", False) or getattr(context, "has_partition_key", False)):
        return None
    if not isinstance(context.assets_def.partitions_def, DynamicPartitionsDefinition):
        return None
    keys = context.partition_key_range
    if keys.start != keys.end:
        raise ValueError(f"partitions {keys.start}...{keys.end}: a run syncs one tenant; launch a backfill of "
                         f"these tenants instead (a run per tenant)")
    return keys.start


def run_tenant(context: Any) -> str:
    """The tenant a run (asset or op) syncs: its tenant partition or its tag; refused when they disagree or when
    it could not be stored."""
    tagged = context.run.tags.get(TENANT_TAG)
    partition = partition_tenant(context)
    if partition is not None and tagged is not None and tagged != partition:
        raise ValueError(f"run tag {TENANT_TAG}={tagged} does not match the run's tenant partition {partition}")
    tenant = partition or tagged or DEFAULT_TENANT
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
    if spec.tenant_partitions or not (context.has_partition_key or context.has_partition_key_range):
        # An unpartitioned run (e.g. materialize() from Python), or one tenant's partition: every row of its
        # tenant, or of the months its tags name.
        return months_scope(spec, tags)
    partitions = month_partitions(spec)
    keys = context.partition_key_range
    if (keys.start, keys.end) == (partitions.get_first_partition_key(), partitions.get_last_partition_key()):
        # Every month selected: also take rows created before partition_start, or the run would skip them.
        return RunScope(Selection(), "every row (all partitions)")
    window = context.partition_time_window
    return RunScope(Selection(created_from=window.start, created_before=window.end),
                    f"rows created in [{window.start:%Y-%m-%d}, {window.end:%Y-%m-%d})")


def months_scope(spec: CatalogSpec, tags: Mapping[str, str]) -> RunScope:
    """Every row, or the rows created in the months [zensync/from, zensync/to] (either may be left out)."""
    first, last = tags.get(FROM_TAG), tags.get(TO_TAG)
    if not first and not last:
        return RunScope(Selection(), "every row")
    start = _month(FROM_TAG, first) if first else None
    end = _month(TO_TAG, last) if last else None
    if start and end and start > end:
        raise ValueError(f"run tags {FROM_TAG}={first} and {TO_TAG}={last}: the first month comes after the last")
    before = dt.datetime(end.year + end.month // 12, end.month % 12 + 1, 1, tzinfo=dt.timezone.utc) if end else None
    shown = f"{start:%Y-%m}" if start else "the first month"
    return RunScope(Selection(created_from=start, created_before=before),
                    f"rows created from {shown} to {f'{end:%Y-%m}' if end else 'now'}")


def _month(tag: str, value: str) -> dt.datetime:
    try:
        day = dt.date.fromisoformat(f"{value.strip()[:7]}-01")
    except ValueError:
        raise ValueError(f"run tag {tag}={value!r} is not a month like 2025-03") from None
    return dt.datetime(day.year, day.month, 1, tzinfo=dt.timezone.utc)
