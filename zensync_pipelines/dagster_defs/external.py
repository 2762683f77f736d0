"""The external copy of a catalog in one system: the asset whose materialization is a sync run."""

import dataclasses
import warnings
from typing import Any, Callable, Iterator, Optional, Union

from dagster import (AssetExecutionContext, AssetKey, AssetMaterialization, AssetObservation, AssetsDefinition,
                     BackfillPolicy, BetaWarning, Config, Failure, MaterializeResult, MetadataValue, asset)
from pydantic import Field

from ..engine.dryrun import Planner
from ..engine.merge import merges
from ..engine.settled import settled_for
from ..engine.spec import CatalogSpec
from ..engine.strategy import Strategy
from ..engine.sync import Selection, SyncRun
from ..engine.types import SyncReport
from ..store.catalog import CatalogTables
from ..store.conflicts import ConflictStore, day_metadata
from ..store.copy_lock import CopyLockError, copy_lock
from ..store.lanes import SharedTokenBucket
from ..store.mappings import MappingStore
from ..store.operations import OperationsView
from ..store.state import ApiUsageMemory, StateStore
from ..store.tables import DEFAULT_TENANT
from .drift import run_read_back
from .plan_view import plan_metadata
from .scope import TENANT_PARTITIONS, RunScope, month_grouper, partitions_def, run_scope, run_tenant
from .tenant_systems import run_system

# Single-run backfills are a deliberate choice (docs/operations.md); the beta notice would repeat in every
# process that loads the code location, for every catalog and system.
warnings.filterwarnings("ignore", message=".*backfill_policy.*", category=BetaWarning)


def upstream_keys(spec: CatalogSpec, system: str) -> list[AssetKey]:
    """The catalog table, and the copies in the same system of every catalog this one references. Partitioned by
    tenant, the catalog table only: Dagster cannot run a partitioned asset without a partition once a partitioned
    upstream asset has a materialization, and the sensors' runs name their tenant by a tag, not a partition (the
    months' way round it, a run over every month, has no tenant counterpart). Rows still wait for their parents."""
    if spec.tenant_partitions:
        return [catalog_key(spec)]
    return [catalog_key(spec)] + [AssetKey([system, ref.catalog]) for ref in spec.references(system)]


def catalog_key(spec: CatalogSpec) -> AssetKey:
    return AssetKey(["catalog", spec.name])


def catalog_metadata(catalog: CatalogTables, spec: CatalogSpec) -> dict[str, Any]:
    """The catalog asset's metadata: row counts and the latest change, as the table holds them now."""
    stats = catalog.stats(spec)
    return {"rows": MetadataValue.int(stats["rows"]), "live_rows": MetadataValue.int(stats["live_rows"]),
            "latest_change": MetadataValue.text(str(stats["latest_change"]))}


def external_key(spec: CatalogSpec, system: str) -> AssetKey:
    return AssetKey([system, spec.name])


def failures_markdown(report: SyncReport) -> str:
    if not report.failures:
        return "No failed rows."
    lines = ["| row | object | status | field | reason |", "|---|---|---|---|---|"]
    for o in report.failures:
        reason = (o.error_message or "").replace("|", "\\|").replace("\n", " ")
        lines.append(f"| {o.internal_id} | {o.object_type} | {o.status} | {o.error_field or ''} | {reason} |")
    if report.failed + report.waiting > len(report.failures):
        lines.append(f"\n{report.failed + report.waiting - len(report.failures)} more not shown.")
    return "\n".join(lines)


def report_metadata(report: SyncReport, run_level: bool = True) -> dict[str, Any]:
    """The counts of a run, or of one month of it (`run_level=False`: API calls and time are the run's only)."""
    counts = {k: v for k, v in report.counts().items() if run_level or k not in ("api_calls", "seconds")}
    metadata: dict[str, Any] = {name: MetadataValue.float(value) if name == "seconds" else MetadataValue.int(value)
                                for name, value in counts.items()}
    metadata["failures"] = MetadataValue.md(failures_markdown(report))
    if report.stopped_reason:
        metadata["stopped_reason"] = MetadataValue.text(report.stopped_reason)
    if report.outage:
        metadata["outage"] = MetadataValue.text(report.outage)
    return metadata


def strategy_metadata(strategy: Strategy) -> dict[str, Any]:
    return {"strategy_mode": MetadataValue.text(strategy.mode), "strategy_trigger": MetadataValue.text(
        strategy.trigger + (f" {strategy.cron}" if strategy.cron else ""))}


def missing_ids(spec: CatalogSpec, system: str, catalog: CatalogTables, mappings: MappingStore) -> Iterator[str]:
    """Mapped rows whose catalog row is gone: hard deletes, which leave no cursor value behind to notice."""
    for chunk in mappings.mapped_ids(spec.name, system):
        present = {str(row[spec.primary_key])
                   for rows in catalog.iter_chunks(spec, Selection(ids=chunk), len(chunk)) for row in rows}
        yield from (internal_id for internal_id in chunk if internal_id not in present)


class SyncConfig(Config):
    dry_run: bool = Field(default=False, description="Plan only: show what the sync would do in the run's "
                                                     "metadata (an observation), write nothing anywhere.")


Event = Union[AssetMaterialization, AssetObservation, MaterializeResult]


def sync_events(context: Any, spec: CatalogSpec, system: str, dry_run: bool,
                summary: Callable[..., Event], tenant: Optional[str] = None,
                scope: Optional[RunScope] = None, disjoint: bool = False) -> Iterator[Event]:
    """One sync step, for the asset and for the whole-catalog job alike: a plan (dry run) or a sync, then its
    events. `summary(metadata=...)` makes the run's closing event: the asset's MaterializeResult, or an
    AssetMaterialization without a partition in the op job. A fanned-out run's step (fanout.py) names its own
    tenant and scope, one of the many its run covers; any other step takes them from its run. `disjoint`: the
    step is one of its run's steps over disjoint rows of the copy (month ranges), which may sync side by side."""
    key = external_key(spec, system)
    database = context.resources.catalog_db
    # Every store is bound to the run's tenant (its tag; the default tenant without one): the engine below
    # never learns which tenant it syncs.
    try:
        tenant = tenant or run_tenant(context)
        scope = scope or run_scope(context, spec)
    except ValueError as error:  # a bad tag or partition: one line in the run's failure, not a traceback
        raise Failure(description=f"{spec.name} -> {system}: {error}") from None
    # The tenant's own account or org (a tenant's run never reaches the deployment's); checked before any call:
    # an unregistered or disabled tenant's run (its partition launched from the UI, say) fails here.
    adapter = run_system(context, system, tenant).adapter()
    if hasattr(adapter, "remember_usage"):  # e.g. Salesforce: a spent daily allocation is remembered
        adapter.remember_usage(ApiUsageMemory(StateStore(database.engine(), tenant), system))
    if hasattr(adapter, "share_limit"):  # e.g. Stripe: every run of a tenant's system draws from one rate
        adapter.share_limit(SharedTokenBucket(database.engine(), system, adapter.rate_limit_per_second,
                                              tenant=tenant))
    catalog, mappings = database.catalog(tenant), database.mappings(tenant)
    if dry_run:
        context.log.info(f"{spec.name} -> {system}: planning {scope.description} (dry run, nothing written)")
        planner = Planner(spec, system, catalog, mappings, reader=getattr(adapter, "current", None))
        plan = planner.plan(scope.selection)
        yield AssetObservation(asset_key=key, metadata=plan_metadata(plan) | {
            "scope": MetadataValue.text(scope.description)})
        return
    # One sync of this copy at a time across processes and machines (store/copy_lock.py): a fan-out step and the
    # tenant's own sensor run are two runs to the run queue but the same rows here.
    try:
        with copy_lock(database.engine(), tenant, spec.name, system, waiting=lambda: context.log.info(
                f"{spec.name} -> {system}: waiting for another sync of this copy to end"), shared=disjoint):
            yield from _sync(context, spec, system, summary, tenant, adapter, scope)
    except CopyLockError as error:  # a setting the lock cannot hold with: one line, before anything is written
        raise Failure(description=f"{spec.name} -> {system}: {error}") from None


def _sync(context: Any, spec: CatalogSpec, system: str, summary: Callable[..., Event], tenant: str, adapter: Any,
          scope: RunScope) -> Iterator[Event]:
    """sync_events past its dry run, with the copy's lock held: the sync, then its events."""
    key = external_key(spec, system)
    database = context.resources.catalog_db
    strategy = spec.strategy(system)
    catalog, mappings = database.catalog(tenant), database.mappings(tenant)
    context.log.info(f"{spec.name} -> {system}: syncing {scope.description}"
                     + ("" if tenant == DEFAULT_TENANT else f" for tenant {tenant}"))
    # A reconcile first reads the objects back: drift found there is repaired by this very run (outbound
    # fields) or queued in the inbox (inbound fields, deletions) for the inbound job.
    drift = run_read_back(spec, system, adapter, database.engine(), catalog, mappings) \
        if scope.delete_missing else None
    run = SyncRun(spec, system, catalog, mappings, adapter, context.run.run_id,
                  group_of=month_grouper(spec))
    if scope.problem_rows:  # in chunks of ids: a long list of failed rows is never one huge IN (...)
        for ids in OperationsView(database.engine(), tenant).problem_ids(spec.name, system):
            run.run(Selection(ids=ids))  # counts add up across the passes
        report = run.report
    else:
        # Rows settled by an earlier run and unchanged since are left out in the database (engine/settled.py);
        # a reconcile (above) and a retry of named rows still read every row they select.
        selection = scope.selection if scope.delete_missing or scope.selection.ids is not None \
            else dataclasses.replace(scope.selection, settled=settled_for(spec, system))
        report = run.run(selection)
    if scope.delete_missing and strategy.deletes and not report.stopped_reason:
        report = run.delete_missing(list(missing_ids(spec, system, catalog, mappings)))
    context.log.info(f"{spec.name} -> {system}: {report.counts()}")
    metadata = report_metadata(report) | {"scope": MetadataValue.text(scope.description)} \
        | strategy_metadata(strategy)
    if drift is not None:
        metadata |= {f"drift_{name}": MetadataValue.int(value) for name, value in drift.counts().items()}
        metadata["drift_examples"] = MetadataValue.json(drift.examples[:20])
    if hasattr(adapter, "usage"):  # e.g. Salesforce: the org's daily API allocation, as last reported
        metadata["api_usage"] = MetadataValue.json(adapter.usage())
    if any(merges(obj) for obj in spec.objects(system)):
        # The merge records conflicts when the system's changes come in; the copy shows the last day's.
        total, table = day_metadata(ConflictStore(database.engine(), tenant), spec.name, system)
        metadata |= {"conflicts": MetadataValue.int(total), "latest_conflicts": MetadataValue.md(table)}
    if report.outage:
        # The system, not the rows, is the problem: what finished is kept, untouched rows stay as they were,
        # and the run fails (red) with the one reason first in the log and in the failure's metadata.
        context.log.error(f"{spec.name} -> {system} stopped: {report.outage}")
        raise Failure(description=report.outage, metadata=metadata)
    if spec.tenant_partitions:
        yield from tenant_events(context, key, tenant, metadata, summary)
        return
    if context.has_partition_key or context.has_partition_key_range:
        # Each month of the range is materialized with its own rows' outcomes (zeros where it has none).
        for month in context.partition_keys:
            month_metadata = report_metadata(run.groups.get(month) or SyncReport(), run_level=False)
            context.add_asset_metadata(month_metadata, partition_key=month)
        shared = {k: v for k, v in metadata.items() if k not in report.counts() and k != "failures"}
        yield MaterializeResult(metadata=shared | {"run_api_calls": MetadataValue.int(report.api_calls),
                                                   "run_seconds": MetadataValue.float(round(report.seconds, 3))})
        return
    # A whole-catalog run (sensor, reconcile, one click, `zensync sync`): the months it touched (wrote, or
    # failed to), each with its own outcomes, then the run's totals. Months whose rows it only re-read and
    # skipped keep their last materialization, so an idle reconcile adds one event, not one per month.
    for month in sorted(run.groups):
        counts = run.groups[month].counts()
        if any(counts[name] for name in ("created", "updated", "deleted", "failed", "waiting", "deferred", "held")):
            yield AssetMaterialization(asset_key=key, partition=month,
                                       metadata=report_metadata(run.groups[month], run_level=False))
    yield summary(metadata=metadata)


def tenant_events(context: Any, key: AssetKey, tenant: str, metadata: dict[str, Any],
                  summary: Callable[..., Event]) -> Iterator[Event]:
    """A copy partitioned by tenant: the run's tenant's partition is materialized with the run's outcomes, so
    the partitions view shows per tenant when its copy last synced and how. A run launched for the partition
    records it through its own result; a run without one (sensor, retry, `zensync sync --tenant`) names it, then
    records its totals without a partition as every whole-catalog run does."""
    if context.has_partition_key or context.has_partition_key_range:  # a backfill's run is a range of one
        yield summary(metadata=metadata)
        return
    if context.instance.has_dynamic_partition(TENANT_PARTITIONS, tenant):
        yield AssetMaterialization(asset_key=key, partition=tenant, metadata=metadata)
    else:  # the registry and the instance disagree until the partitions sensor's next tick: say so, sync anyway
        context.log.warning(f"tenant {tenant} has no partition of {key.to_user_string()} yet "
                            f"(the zensync_tenant_partitions sensor adds it): its outcomes are on the run only")
    yield summary(metadata=metadata)


def backfill_policy(spec: CatalogSpec) -> BackfillPolicy:
    """Months: any range is one run. Tenants: a run per tenant, as each run is bound to one tenant's stores,
    account and lane (the run queue then runs different tenants side by side)."""
    return BackfillPolicy.multi_run(1) if spec.tenant_partitions else BackfillPolicy.single_run()


def build_external_asset(spec: CatalogSpec, system: str) -> AssetsDefinition:
    objects = ", ".join(obj.name for obj in spec.objects(system))
    strategy = spec.strategy(system)
    key = external_key(spec, system)
    partitions = partitions_def(spec)

    # One run for any range of months: a backfill is one idempotent sync, not a run (and its start-up) per month.
    # The output is optional only so that a dry run records no materialization (and its checks do not run).
    @asset(key=key, group_name=spec.name, deps=upstream_keys(spec, system), kinds={system},
           pool=f"{system}_api", required_resource_keys={"catalog_db", system}, output_required=False,
           partitions_def=partitions, backfill_policy=backfill_policy(spec),
           description=f"The {spec.name} catalog as {system} objects ({objects}), kept in sync by zensync. "
                       f"Strategy: {strategy.describe()}. "
                       f"The job sync_{spec.name}_{system}_all syncs the whole catalog in one click.",
           metadata=strategy_metadata(strategy))
    def _external(context: AssetExecutionContext, config: SyncConfig) -> Iterator[Event]:
        yield from sync_events(context, spec, system, config.dry_run, MaterializeResult)

    return _external
