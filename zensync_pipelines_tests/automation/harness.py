"""A customers catalog with its Dagster definitions wired to a Stripe sandbox, for automation tests."""

import dataclasses
import datetime as dt
from pathlib import Path
from typing import Any

import stripe
from dagster import DagsterInstance, Definitions, build_sensor_context
from sqlalchemy import update

from zensync_pipelines.catalogs import load_specs
from zensync_pipelines.dagster_defs.factory import build_catalog_definitions, job_name
from zensync_pipelines.dagster_defs.resources import CatalogDatabase
from zensync_pipelines.dagster_defs.settings import AutomationSettings
from zensync_pipelines.demo.seed import seed_customers
from zensync_pipelines.demo.tables import customers
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.systems.stripe import StripeResource

_CUSTOMERS = {spec.name: spec for spec in load_specs()}["customers"]
# These tests exercise the automation against Stripe; the Salesforce copy of the same spec is tested elsewhere.
SPEC = dataclasses.replace(_CUSTOMERS, systems={"stripe": _CUSTOMERS.systems["stripe"]})
API_KEY = "sk_test_zensync_automation"
JOB = job_name(SPEC, "stripe")


class Harness:
    def __init__(self, database_url: str, stripe_url: str, rows: int, settings: AutomationSettings, home: str,
                 **stripe_options: Any):
        self.engine = make_engine(database_url)
        seed_customers(self.engine, rows)
        self.stripe_url = stripe_url
        self.resources = {"catalog_db": CatalogDatabase(url=database_url),
                          "stripe": StripeResource(api_key=API_KEY, api_base=stripe_url, rate_limit_per_second=500,
                                                   **stripe_options)}
        self.defs = Definitions.merge(build_catalog_definitions(SPEC, settings), Definitions(resources=self.resources))
        # A persistent instance in the test's own folder: sensors read run records, which ephemeral() does not keep.
        Path(home).mkdir(parents=True, exist_ok=True)
        self.instance = DagsterInstance.local_temp(tempdir=home)

    def tick(self, sensor_name: str, cursor=None):
        sensor = self.defs.resolve_sensor_def(sensor_name)
        context = build_sensor_context(instance=self.instance, cursor=cursor, resources=self.resources,
                                       definitions=self.defs)
        return sensor.evaluate_tick(context)

    def run(self, tags=None, **kwargs):
        """Execute the sync job as the daemon would for a run request with these tags; returns (result, metadata)."""
        result = self.defs.resolve_job_def(JOB).execute_in_process(instance=self.instance, tags=tags, **kwargs)
        assert result.success
        events = [e for e in result.get_asset_materialization_events() if e.asset_key.path == ["stripe", "customers"]]
        metadata = {k: v.value for k, v in events[-1].materialization.metadata.items()}
        return result, metadata

    def set_row(self, row_id: int, **values) -> None:
        with self.engine.begin() as connection:
            connection.execute(update(customers).where(customers.c.id == row_id).values(**values))

    def remote(self) -> dict:
        client = stripe.StripeClient(API_KEY, base_addresses={"api": self.stripe_url})
        found = client.v1.customers.list(params={"limit": 100}).auto_paging_iter()
        return {c.metadata["zenskar_id"]: c for c in found}

    def spread_updates(self, base: dt.datetime, rows: int, gap_seconds: int = 600) -> None:
        """Row i last changed i gaps before `base`, so each row sits alone in a 5-minute overlap window."""
        for row_id in range(1, rows + 1):
            self.set_row(row_id, updated_at=base - dt.timedelta(seconds=gap_seconds * row_id))
