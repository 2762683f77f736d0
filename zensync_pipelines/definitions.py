"""The code location: every catalog spec through the factory, plus the shared resources."""

from dagster import Definitions

from .catalogs import load_specs
from .dagster_defs.factory import build_catalog_definitions
from .dagster_defs.resources import default_resources
from .systems.salesforce import salesforce_resource_from_env

defs = Definitions.merge(
    *(build_catalog_definitions(spec) for spec in load_specs()),
    Definitions(resources=default_resources()),
    # The customers spec writes to Salesforce, so the location needs this key to load; it belongs in
    # default_resources() (dagster_defs/resources.py) and moves there when that module wires it.
    Definitions(resources={"salesforce": salesforce_resource_from_env()}),
)
