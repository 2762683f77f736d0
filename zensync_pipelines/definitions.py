"""The code location: every catalog spec through the factory, plus the shared resources."""

from dagster import Definitions

from .catalogs import load_specs
from .dagster_defs.factory import build_catalog_definitions
from .dagster_defs.resources import default_resources

defs = Definitions.merge(
    *(build_catalog_definitions(spec) for spec in load_specs()),
    Definitions(resources=default_resources()),
)
