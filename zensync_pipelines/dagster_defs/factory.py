"""Turn one catalog spec into its Dagster definitions: a catalog asset, an external copy per system, jobs."""

from typing import Any

from dagster import (AssetExecutionContext, AssetKey, AssetsDefinition, Definitions, MaterializeResult,
                     MetadataValue, asset, define_asset_job)

from ..engine.spec import CatalogSpec
from ..engine.sync import Selection, sync
from ..engine.types import SyncReport


def catalog_key(spec: CatalogSpec) -> AssetKey:
    return AssetKey(["catalog", spec.name])


def external_key(spec: CatalogSpec, system: str) -> AssetKey:
    return AssetKey([system, spec.name])


def job_name(spec: CatalogSpec, system: str) -> str:
    return f"sync_{spec.name}_{system}"


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
    return metadata


def build_catalog_asset(spec: CatalogSpec) -> AssetsDefinition:
    @asset(key=catalog_key(spec), group_name=spec.name, kinds={"sql"}, required_resource_keys={"catalog_db"},
           description=spec.description or f"The {spec.name} catalog table `{spec.table}`.")
    def _catalog(context: AssetExecutionContext) -> MaterializeResult:
        stats = context.resources.catalog_db.catalog().stats(spec)
        return MaterializeResult(metadata={
            "rows": MetadataValue.int(stats["rows"]), "live_rows": MetadataValue.int(stats["live_rows"]),
            "latest_change": MetadataValue.text(str(stats["latest_change"])),
        })

    return _catalog


def build_external_asset(spec: CatalogSpec, system: str) -> AssetsDefinition:
    objects = ", ".join(obj.object_type for obj in spec.objects(system))

    # A referenced catalog's copy in the same system goes first: its external ids fill this one's references.
    deps = [catalog_key(spec)] + [AssetKey([system, ref.catalog]) for ref in spec.references(system)]

    @asset(key=external_key(spec, system), group_name=spec.name, deps=deps, kinds={system},
           pool=f"{system}_api", required_resource_keys={"catalog_db", system},
           description=f"The {spec.name} catalog as {system} objects ({objects}), kept in sync by zensync.")
    def _external(context: AssetExecutionContext) -> MaterializeResult:
        database = context.resources.catalog_db
        adapter = getattr(context.resources, system).adapter()
        report = sync(spec, system, database.catalog(), database.mappings(), adapter, context.run.run_id, Selection())
        context.log.info(f"{spec.name} -> {system}: {report.counts()}")
        return MaterializeResult(metadata=report_metadata(report))

    return _external


def build_catalog_definitions(spec: CatalogSpec) -> Definitions:
    assets = [build_catalog_asset(spec)] + [build_external_asset(spec, system) for system in spec.systems]
    jobs = [define_asset_job(job_name(spec, system), selection=[external_key(spec, system)],
                             description=f"Sync {spec.name} to {system}.") for system in spec.systems]
    return Definitions(assets=assets, jobs=jobs)
