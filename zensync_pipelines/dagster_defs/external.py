"""The external copy of a catalog in one system: the asset whose materialization is a sync run."""

import warnings
from typing import Any, Iterator

from dagster import (AssetExecutionContext, AssetKey, AssetsDefinition, BackfillPolicy, BetaWarning, Failure,
                     MaterializeResult, MetadataValue, asset)

from ..engine.spec import CatalogSpec
from ..engine.strategy import Strategy
from ..engine.sync import Selection, SyncRun
from ..engine.types import SyncReport
from ..store.catalog import CatalogTables
from ..store.mappings import MappingStore
from ..store.state import ApiUsageMemory, StateStore
from .drift import run_read_back
from .scope import partitions_def, run_scope

# Single-run backfills are a deliberate choice (docs/operations.md); the beta notice would repeat in every
# process that loads the code location, for every catalog and system.
warnings.filterwarnings("ignore", message=".*backfill_policy.*", category=BetaWarning)


def upstream_keys(spec: CatalogSpec, system: str) -> list[AssetKey]:
    """The catalog table, and the copies in the same system of every catalog this one references."""
    return [catalog_key(spec)] + [AssetKey([system, ref.catalog]) for ref in spec.references(system)]


def catalog_key(spec: CatalogSpec) -> AssetKey:
    return AssetKey(["catalog", spec.name])


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


def report_metadata(report: SyncReport) -> dict[str, Any]:
    metadata: dict[str, Any] = {name: MetadataValue.float(value) if name == "seconds" else MetadataValue.int(value)
                                for name, value in report.counts().items()}
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


def build_external_asset(spec: CatalogSpec, system: str) -> AssetsDefinition:
    objects = ", ".join(obj.name for obj in spec.objects(system))
    strategy = spec.strategy(system)

    # One run for any range of months: a backfill is one idempotent sync, not a run (and its start-up) per month.
    @asset(key=external_key(spec, system), group_name=spec.name, deps=upstream_keys(spec, system), kinds={system},
           pool=f"{system}_api", required_resource_keys={"catalog_db", system},
           partitions_def=partitions_def(spec), backfill_policy=BackfillPolicy.single_run(),
           description=f"The {spec.name} catalog as {system} objects ({objects}), kept in sync by zensync. "
                       f"Strategy: {strategy.describe()}.", metadata=strategy_metadata(strategy))
    def _external(context: AssetExecutionContext) -> MaterializeResult:
        database = context.resources.catalog_db
        adapter = getattr(context.resources, system).adapter()
        if hasattr(adapter, "remember_usage"):  # e.g. Salesforce: a spent daily allocation is remembered
            adapter.remember_usage(ApiUsageMemory(StateStore(database.engine()), system))
        scope = run_scope(context, spec)
        context.log.info(f"{spec.name} -> {system}: syncing {scope.description}")
        catalog, mappings = database.catalog(), database.mappings()
        # A reconcile first reads the objects back: drift found there is repaired by this very run (outbound
        # fields) or queued in the inbox (inbound fields, deletions) for the inbound job.
        drift = run_read_back(spec, system, adapter, database.engine(), catalog, mappings) \
            if scope.delete_missing else None
        run = SyncRun(spec, system, catalog, mappings, adapter, context.run.run_id)
        report = run.run(scope.selection)
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
        if report.outage:
            # The system, not the rows, is the problem: what finished is kept, untouched rows stay as they were,
            # and the run fails (red) with the one reason first in the log and in the failure's metadata.
            context.log.error(f"{spec.name} -> {system} stopped: {report.outage}")
            raise Failure(description=report.outage, metadata=metadata)
        return MaterializeResult(metadata=metadata)

    return _external
