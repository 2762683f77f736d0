"""Inbound per catalog and system: the asset whose materialization applies the inbox's due events to the catalog
(upstream of the catalog asset, in its group), its job and its checks (backlog, age of the oldest event)."""


import datetime as dt
from typing import Any, Mapping, Optional, Sequence

from dagster import (AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, AssetChecksDefinition,
                     AssetExecutionContext, AssetKey, AssetsDefinition, MaterializeResult, MetadataValue, asset,
                     asset_check)

from ..engine.inbound.run import InboundRun
from ..engine.inbound.types import InboundReport, Neighbour
from ..engine.spec import CatalogSpec
from ..store.conflicts import ConflictStore, day_metadata, markdown
from ..store.inbound_apply import InboundTables
from ..systems.identity import tag_fields
from .inbound_systems import INBOUND_SYSTEMS
from .scope import run_tenant
from .settings import _number
from .tenant_systems import run_system

MAX_BACKLOG = "ZENSYNC_INBOUND_MAX_BACKLOG"
MAX_AGE = "ZENSYNC_INBOUND_MAX_AGE_MINUTES"
ROWS_SHOWN = 50


def inbound_key(spec: CatalogSpec, system: str) -> AssetKey:
    return AssetKey([system, "inbound", spec.name])


def inbound_job_name(spec: CatalogSpec, system: str) -> str:
    return f"inbound_{spec.name}_{system}"


def _cell(value: Any) -> str:
    return str(value if value is not None else "").replace("|", "\\|").replace("\n", " ")[:300]


def failures_markdown(rows: list[dict[str, Any]], total: int) -> str:
    if not rows:
        return "No failed events."
    lines = ["| event | object | code | reason | attempts |", "|---|---|---|---|---|"]
    lines += [f"| {_cell(r.get('event'))} | {_cell(r.get('object'))} | {_cell(r.get('code'))} | "
              f"{_cell(r.get('reason'))} | {_cell(r.get('attempts'))} |" for r in rows]
    if total > len(rows):
        lines.append(f"\n{total - len(rows)} more not shown.")
    return "\n".join(lines)


def report_metadata(report: InboundReport) -> dict[str, Any]:
    metadata: dict[str, Any] = {name: MetadataValue.float(value) if name == "seconds" else MetadataValue.int(value)
                                for name, value in report.counts().items()}
    metadata["failures"] = MetadataValue.md(failures_markdown(report.failures, report.failed))
    return metadata


def build_inbound_asset(spec: CatalogSpec, system: str,
                        neighbours: Optional[Mapping[str, Sequence[Neighbour]]] = None) -> AssetsDefinition:
    """`neighbours`: the other catalogs reading the same object types back (systems/identity.py)."""
    objects = ", ".join(obj.object_type for obj in spec.inbound_objects(system))
    hooks = INBOUND_SYSTEMS[system]

    @asset(key=inbound_key(spec, system), group_name=spec.name, kinds={system},
           required_resource_keys={"catalog_db", system},
           description=f"Changes made in {system} ({objects}) applied to the {spec.name} catalog from the inbox.")
    def _inbound(context: AssetExecutionContext) -> MaterializeResult:
        engine = context.resources.catalog_db.engine()
        tenant = run_tenant(context)  # the inbox, mappings and catalog rows of the run's tenant only
        resource = run_system(context, system, tenant)  # and its own account or org's current state
        decoder, fetcher, adopter = hooks.parts(resource, tag_fields(spec, system)) if hooks.parts else \
            (hooks.decoder(), hooks.fetcher(resource), None)
        run = InboundRun(spec, system, InboundTables(engine, tenant), decoder, fetcher, context.run.run_id,
                         adopter=adopter, neighbours=neighbours)
        report = run.run()
        context.log.info(f"{system} -> {spec.name}: {report.counts()}")
        latest = ConflictStore(engine, tenant).latest(spec.name, system, limit=ROWS_SHOWN) if report.conflicts else []
        return MaterializeResult(metadata=report_metadata(report) | {
            "latest_conflicts": MetadataValue.md(markdown(latest[:report.conflicts], report.conflicts))})

    return _inbound


def build_inbound_checks(spec: CatalogSpec, system: str) -> list[AssetChecksDefinition]:
    key = inbound_key(spec, system)
    max_backlog = int(_number(MAX_BACKLOG, 1000, 0))
    max_age = float(_number(MAX_AGE, 15, 0))

    @asset_check(asset=key, name="inbox_backlog", required_resource_keys={"catalog_db"}, blocking=False,
                 description=f"No failed {system} event waits for {spec.name}, and at most {max_backlog} are due.")
    def _backlog(context: AssetCheckExecutionContext) -> AssetCheckResult:
        tables = InboundTables(context.resources.catalog_db.engine())
        backlog = tables.inbox.backlog(spec.name, system)
        failed = tables.failed_events(spec.name, system, ROWS_SHOWN)
        return AssetCheckResult(
            passed=backlog["failed"] == 0 and backlog["unapplied"] <= max_backlog, severity=AssetCheckSeverity.WARN,
            metadata={"unapplied": MetadataValue.int(backlog["unapplied"]),
                      "failed": MetadataValue.int(backlog["failed"]),
                      "max_backlog": MetadataValue.int(max_backlog),
                      "failed_events": MetadataValue.md(failures_markdown(failed, backlog["failed"]))})

    @asset_check(asset=key, name="oldest_unapplied", required_resource_keys={"catalog_db"}, blocking=False,
                 description=f"No {system} event has waited more than {max_age:g} minutes to reach {spec.name}.")
    def _oldest(context: AssetCheckExecutionContext) -> AssetCheckResult:
        backlog = InboundTables(context.resources.catalog_db.engine()).inbox.backlog(spec.name, system)
        oldest = backlog["oldest_received_at"]
        if oldest is None:
            return AssetCheckResult(passed=True, severity=AssetCheckSeverity.WARN,
                                    metadata={"age_minutes": MetadataValue.float(0.0)})
        oldest = oldest if oldest.tzinfo else oldest.replace(tzinfo=dt.timezone.utc)
        age = (dt.datetime.now(dt.timezone.utc) - oldest).total_seconds() / 60
        return AssetCheckResult(passed=age <= max_age, severity=AssetCheckSeverity.WARN, metadata={
            "age_minutes": MetadataValue.float(round(age, 2) + 0.0), "max_age_minutes": MetadataValue.float(max_age),
            "oldest_received_at": MetadataValue.timestamp(oldest)})

    @asset_check(asset=key, name="conflicts_last_day", required_resource_keys={"catalog_db"}, blocking=False,
                 description=f"No field of {spec.name} was changed both here and in {system} to different values "
                             f"in the last day (each conflict is settled by its rule and recorded).")
    def _conflicts(context: AssetCheckExecutionContext) -> AssetCheckResult:
        total, table = day_metadata(ConflictStore(context.resources.catalog_db.engine()), spec.name, system,
                                    ROWS_SHOWN)
        return AssetCheckResult(passed=total == 0, severity=AssetCheckSeverity.WARN, metadata={
            "conflicts": MetadataValue.int(total), "latest_conflicts": MetadataValue.md(table)})

    return [_backlog, _oldest, _conflicts]


def inbound_enabled(spec: CatalogSpec, system: str) -> bool:
    return bool(spec.inbound_objects(system)) and system in INBOUND_SYSTEMS
