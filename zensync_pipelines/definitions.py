"""The code location: every catalog spec through the factory, plus the shared resources."""

from dagster import Definitions

from .catalogs import load_specs
from .dagster_defs.executors import job_executor
from .dagster_defs.factory import build_catalog_definitions
from .dagster_defs.inbound_automation import build_polling_definitions
from .dagster_defs.settings import AutomationSettings
from .dagster_defs.resources import default_resources



def build_definitions() -> Definitions:
    """Built from the environment as it is now (resources and settings read it): the code location does this once
    at load; `zensync sync` and `retry` call it again so their runs use the environment they were started with."""
    specs = load_specs()
    poll_jobs, poll_schedules = build_polling_definitions(specs, AutomationSettings.from_env())
    return Definitions.merge(
        *(build_catalog_definitions(spec, specs=specs) for spec in specs),
        Definitions(jobs=poll_jobs, schedules=poll_schedules),  # one change-feed poll per system, not per catalog
        # The default executor runs what has no job of its own: the UI's Materialize button and backfills launch
        # the implicit asset job, which would otherwise start a process per step (seconds of imports each). The
        # deployment picks it like every job's (ZENSYNC_EXECUTOR, dagster_defs/executors.py).
        Definitions(resources=default_resources(), executor=job_executor()),
    )


defs = build_definitions()
