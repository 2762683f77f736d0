"""Turn one catalog spec into its Dagster definitions: per system an external copy, its checks, a job, a
whole-catalog job, a retry sensor and a reconcile schedule (as the copy's strategy asks), the inbound asset, job
and inbox sensor where the spec reads changes back; the catalog asset they all depend on, and one change sensor
for the systems that sync on change."""

from typing import Optional, Sequence

from dagster import AssetExecutionContext, AssetsDefinition, Definitions, MaterializeResult, asset, define_asset_job

from ..engine.spec import CatalogSpec
from ..store.tables import DEFAULT_TENANT
from ..systems.identity import neighbours
from ..systems.registry import check_spec
from .checks import build_checks
from .executors import job_executor
from .fanout import build_fanout_job
from .external import build_external_asset, catalog_key, catalog_metadata, external_key
from .inbound import build_inbound_asset, build_inbound_checks, inbound_enabled, inbound_job_name, inbound_key
from .inbound_automation import build_inbox_sensor
from .retries import build_retry_sensor
from .schedules import build_reconcile_schedule
from .scope import copy_tags
from .sensors import build_change_sensor
from .tenant_partitions import tenant_job_config
from .settings import AutomationSettings
from .step_values import IO_MANAGER_KEY, step_values_io_manager
from .tenant_systems import lane_tags
from .whole import build_whole_catalog_job

__all__ = ["build_catalog_definitions", "catalog_key", "external_key", "job_name"]


def job_name(spec: CatalogSpec, system: str) -> str:
    return f"sync_{spec.name}_{system}"


def build_catalog_asset(spec: CatalogSpec) -> AssetsDefinition:
    # Changes made in a system arrive through its inbound asset: upstream of the table they write.
    inbound = [inbound_key(spec, system) for system in spec.systems if inbound_enabled(spec, system)]

    @asset(key=catalog_key(spec), group_name=spec.name, kinds={"sql"}, required_resource_keys={"catalog_db"},
           deps=inbound,
           description=spec.description or f"The {spec.name} catalog table `{spec.table}`.")
    def _catalog(context: AssetExecutionContext) -> MaterializeResult:
        return MaterializeResult(metadata=catalog_metadata(context.resources.catalog_db.catalog(), spec))

    return _catalog


def build_catalog_definitions(spec: CatalogSpec, settings: Optional[AutomationSettings] = None,
                              specs: Sequence[CatalogSpec] = ()) -> Definitions:
    """`specs`: every catalog of the code location; those reading an object type this one reads back share its
    events, each taking the objects it links (engine/inbound/rows.py)."""
    settings = settings or AutomationSettings.from_env()
    check_spec(spec)
    assets, checks, jobs, sensors, schedules = [build_catalog_asset(spec)], [], [], [], []
    watched = {}  # system -> sync job, for the catalog's one change sensor
    for system in spec.systems:
        if inbound_enabled(spec, system):
            inbound = inbound_job_name(spec, system)
            assets.append(build_inbound_asset(spec, system, neighbours(specs, spec, system)))
            checks += build_inbound_checks(spec, system)
            jobs.append(define_asset_job(inbound, selection=[inbound_key(spec, system)],
                                         executor_def=job_executor(),
                                         description=f"Apply {system} changes to {spec.name}."))
            if system not in settings.skipped_systems:
                sensors.append(build_inbox_sensor(spec, system, inbound, settings))
        if not spec.strategy(system).outbound:  # a copy zensync never writes: its inbound side is all there is
            continue
        name = job_name(spec, system)
        assets.append(build_external_asset(spec, system))
        checks += build_checks(spec, system, name, settings)
        # The job selects the external copy only; its checks come with it and run after every sync. Its steps
        # run where the deployment says (executors.py): in the run's process by default, since one sync step and
        # its light checks gain nothing from a process each; pools still limit the step across runs.
        # The default tenant's copy and lane; a tenant's launch overrides both tags (cli/ops.py).
        # Partitioned by tenant: a partition's run carries its tenant's tags instead (tenant_partitions.py).
        sync_job = define_asset_job(name, selection=[external_key(spec, system)], executor_def=job_executor(),
                                    tags=copy_tags(spec, system) | lane_tags(DEFAULT_TENANT, system),
                                    config=tenant_job_config(spec, system) if spec.tenant_partitions else None,
                                    description=f"Sync {spec.name} to {system}.")
        jobs.append(sync_job)
        jobs.append(build_whole_catalog_job(spec, system))
        jobs.append(build_fanout_job(spec, system))
        # Only what the copy's strategy needs: no sensor unless it syncs on change, no schedule for a manual one.
        strategy, automated = spec.strategy(system), system not in settings.skipped_systems
        if strategy.sensor and automated:
            watched[system] = sync_job
        if strategy.schedule and automated:
            schedules.append(build_reconcile_schedule(spec, system, name, settings, strategy.cron))
        if (strategy.sensor or strategy.schedule) and automated:  # a manual copy retries when it is run
            sensors.append(build_retry_sensor(spec, system, name, settings))
    if watched:
        # With a tenant column, one tick for all tenants once any is registered (dagster_defs/tenant_sensors.py).
        sensors.append(build_change_sensor(spec, watched, settings))
    # The fan-out job's step values (step_values.py): one shared definition, so every catalog's merges as one.
    return Definitions(assets=assets, asset_checks=checks, jobs=jobs, sensors=sensors, schedules=schedules,
                       resources={IO_MANAGER_KEY: step_values_io_manager})
