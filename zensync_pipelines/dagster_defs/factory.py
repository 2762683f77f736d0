"""Turn one catalog spec into its Dagster definitions: per system an external copy, its checks, a job, a
whole-catalog job, a retry sensor and a reconcile schedule (as the copy's strategy asks), the inbound asset, job
and inbox sensor where the spec reads changes back; the catalog asset they all depend on, and one change sensor
for the systems that sync on change."""

from typing import Optional

from dagster import (AssetExecutionContext, AssetsDefinition, Definitions, MaterializeResult, asset, define_asset_job,
                     in_process_executor)

from ..engine.spec import CatalogSpec
from ..store.tables import DEFAULT_TENANT
from ..systems.registry import check_spec
from .checks import build_checks
from .external import build_external_asset, catalog_key, catalog_metadata, external_key
from .inbound import build_inbound_asset, build_inbound_checks, inbound_enabled, inbound_job_name, inbound_key
from .inbound_automation import build_inbox_sensor
from .retries import build_retry_sensor
from .schedules import build_reconcile_schedule
from .scope import copy_tags
from .sensors import build_change_sensor
from .tenant_partitions import tenant_job_config
from .tenant_automation import build_tenant_inbox_sensor, build_tenant_retry_sensor
from .tenant_sensors import build_tenant_change_sensor
from .settings import AutomationSettings
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


def build_catalog_definitions(spec: CatalogSpec, settings: Optional[AutomationSettings] = None) -> Definitions:
    settings = settings or AutomationSettings.from_env()
    check_spec(spec)
    assets, checks, jobs, sensors, schedules = [build_catalog_asset(spec)], [], [], [], []
    watched = {}  # system -> sync job, for the catalog's one change sensor
    for system in spec.systems:
        name = job_name(spec, system)
        assets.append(build_external_asset(spec, system))
        checks += build_checks(spec, system, name, settings)
        # The job selects the external copy only; its checks come with it and run after every sync. One sync
        # step and its light checks gain nothing from a process each, and each process costs seconds of
        # imports between a change and its sync; pools still limit the step across runs.
        # The default tenant's copy and lane; a tenant's launch overrides both tags (cli/ops.py).
        # Partitioned by tenant: a partition's run carries its tenant's tags instead (tenant_partitions.py).
        sync_job = define_asset_job(name, selection=[external_key(spec, system)], executor_def=in_process_executor,
                                    tags=copy_tags(spec, system) | lane_tags(DEFAULT_TENANT, system),
                                    config=tenant_job_config(spec, system) if spec.tenant_partitions else None,
                                    description=f"Sync {spec.name} to {system}.")
        jobs.append(sync_job)
        jobs.append(build_whole_catalog_job(spec, system))
        # Only what the copy's strategy needs: no sensor unless it syncs on change, no schedule for a manual one.
        strategy, automated = spec.strategy(system), system not in settings.skipped_systems
        if strategy.sensor and automated:
            watched[system] = sync_job
        if strategy.schedule and automated:
            schedules.append(build_reconcile_schedule(spec, system, name, settings, strategy.cron))
        if (strategy.sensor or strategy.schedule) and automated:  # a manual copy retries when it is run
            sensors.append((build_tenant_retry_sensor if spec.tenant_column else build_retry_sensor)(
                spec, system, name, settings))
        if inbound_enabled(spec, system):
            inbound = inbound_job_name(spec, system)
            assets.append(build_inbound_asset(spec, system))
            checks += build_inbound_checks(spec, system)
            jobs.append(define_asset_job(inbound, selection=[inbound_key(spec, system)],
                                         executor_def=in_process_executor,
                                         description=f"Apply {system} changes to {spec.name}."))
            if automated:
                sensors.append((build_tenant_inbox_sensor if spec.tenant_column else build_inbox_sensor)(
                    spec, system, inbound, settings))
    if watched:
        # A catalog with a tenant column: one tick for all tenants, a run per tenant (dagster_defs/tenant_sensors.py).
        build = build_tenant_change_sensor if spec.tenant_column else build_change_sensor
        sensors.append(build(spec, watched, settings))
    return Definitions(assets=assets, asset_checks=checks, jobs=jobs, sensors=sensors, schedules=schedules)
