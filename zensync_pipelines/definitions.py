"""The code location: every catalog spec through the factory, plus the shared resources."""

from dagster import Definitions

from .catalogs import load_specs
from .dagster_defs.factory import build_catalog_definitions
from .dagster_defs.inbound_automation import build_polling_definitions
from .dagster_defs.settings import AutomationSettings
from .dagster_defs.resources import default_resources

SPECS = load_specs()
_POLL_JOBS, _POLL_SCHEDULES = build_polling_definitions(SPECS, AutomationSettings.from_env())

defs = Definitions.merge(
    *(build_catalog_definitions(spec) for spec in SPECS),
    Definitions(jobs=_POLL_JOBS, schedules=_POLL_SCHEDULES),  # one change-feed poll per system, not per catalog
    Definitions(resources=default_resources()),
)
