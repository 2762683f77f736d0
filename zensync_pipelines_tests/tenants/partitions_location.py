"""A code location for the backfill test (test_partitions.py): the tenant-partitioned customers copy, wired to
the test's database and Stripe sandbox through the environment, as the daemon loads a real code location. Read at
each run (EnvVar), as the module is imported once per process and each test has its own database and sandbox."""

from dagster import Definitions, EnvVar, in_process_executor

from zensync_pipelines.dagster_defs.factory import build_catalog_definitions
from zensync_pipelines.dagster_defs.resources import CatalogDatabase
from zensync_pipelines.systems.stripe import StripeResource

from .test_partitions import KEY, SPEC

defs = Definitions.merge(build_catalog_definitions(SPEC), Definitions(resources={
    "catalog_db": CatalogDatabase(url=EnvVar("ZENSYNC_TEST_LOCATION_DB")),
    "stripe": StripeResource(api_key=KEY, api_base=EnvVar("ZENSYNC_TEST_LOCATION_STRIPE"),
                             rate_limit_per_second=500, max_network_retries=0)}, executor=in_process_executor))
