"""A code location with the customers catalog syncing Accounts only to Salesforce: what a user would write to load
just the Accounts, for the peer benchmark's like-for-like figure (drt-core writes one object per sync).

    dagster job execute -f benchmarks/peer_defs.py -j sync_customers_salesforce
"""

import dataclasses

from dagster import Definitions

from zensync_pipelines.catalogs import load_specs
from zensync_pipelines.dagster_defs.factory import build_catalog_definitions
from zensync_pipelines.dagster_defs.resources import default_resources

CUSTOMERS = {spec.name: spec for spec in load_specs()}["customers"]
ACCOUNTS_ONLY = dataclasses.replace(CUSTOMERS, systems={
    "salesforce": [obj for obj in CUSTOMERS.systems["salesforce"] if obj.object_type == "Account"]})

defs = Definitions.merge(build_catalog_definitions(ACCOUNTS_ONLY), Definitions(resources=default_resources()))
