"""The code location: every catalog spec through the factory, plus the shared resources."""

from dagster import Definitions

from .catalogs import load_specs
from .dagster_defs.executors import job_executor
from .dagster_defs.factory import build_catalog_definitions
from .dagster_defs.inbound_automation import build_polling_definitions
from .dagster_defs.settings import AutomationSettings
from .dagster_defs.resources import default_resources
from .dagster_defs.tenant_partitions import build_partitions_sensor, by_tenant, partition_by


def build_definitions() -> Definitions:
    """Built from the environment as it is now (resources and settings read it): the code location does this once
    at load; `zensync sync` and `retry` call it again so their runs use the environment they were started with."""
    # Months, as before tenants, until a tenant is registered; then catalogs with a tenant column are partitioned
    # by tenant (dagster_defs/tenant_partitions.py), and one sensor keeps those partitions in line.
    mode = partition_by()
    specs = [by_tenant(spec, mode) for spec in load_specs()]
    poll_jobs, poll_schedules = build_polling_definitions(specs, AutomationSettings.from_env())
    partitions_sensor = [build_partitions_sensor()] if any(spec.tenant_partitions for spec in specs) else []
    return Definitions.merge(
        *(build_catalog_definitions(spec, specs=specs) for spec in specs),
        Definitions(sensors=partitions_sensor),
        Definitions(jobs=poll_jobs, schedules=poll_schedules),  # one change-feed poll per system, not per catalog
        # The default executor runs what has no job of its own: the UI's Materialize button and backfills launch
        # the implicit asset job, which would otherwise start a process per step (seconds of imports each). The
        # deployment picks it like every job's (ZENSYNC_EXECUTOR, dagster_defs/executors.py).
        Definitions(resources=default_resources(), executor=job_executor()),
    )


defs = build_definitions()
