"""The one-click whole-catalog sync: a job per catalog and system that needs no partition choice.

The external copy is partitioned by month, so its asset job asks for a partition in the launchpad (and warns
before a run without one). This job runs the very same sync step as an op over the whole catalog: it records the
months it touched and the run's totals on the external copy's asset key, like a sensor run. The copy's checks
stay with the asset job (asset checks cannot join an op job); they run with every sensor and reconcile run.
"""

from dagster import AssetMaterialization, JobDefinition, OpExecutionContext, job, op

from ..engine.spec import CatalogSpec
from ..store.tables import DEFAULT_TENANT
from .executors import job_executor
from .external import Event, SyncConfig, sync_events
from .scope import copy_tags
from .tenant_systems import lane_tags


def whole_job_name(spec: CatalogSpec, system: str) -> str:
    return f"sync_{spec.name}_{system}_all"


def build_whole_catalog_job(spec: CatalogSpec, system: str) -> JobDefinition:
    @op(name=f"{system}__{spec.name}__all", required_resource_keys={"catalog_db", system}, pool=f"{system}_api",
        out={}, description=f"Sync every {spec.name} row to {system} (dry_run: plan only).")
    def _sync_all(context: OpExecutionContext, config: SyncConfig):  # noqa: ANN202 - a generator of events
        def closing(metadata: dict) -> Event:
            return AssetMaterialization(asset_key=[system, spec.name], metadata=metadata)

        yield from sync_events(context, spec, system, config.dry_run, closing)

    @job(name=whole_job_name(spec, system), executor_def=job_executor(),
         tags=copy_tags(spec, system) | lane_tags(DEFAULT_TENANT, system),
         description=f"Sync the whole {spec.name} catalog to {system} now: one click, no partition to choose.")
    def _whole() -> None:
        _sync_all()

    return _whole
