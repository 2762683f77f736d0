"""`stripe/plans` through the factory and Dagster: the run's figures, its strategy, and checks that count each
of a plan's objects (the product and its two prices) apart."""

from dagster import DagsterInstance, Definitions

from zensync_pipelines.catalogs import load_specs
from zensync_pipelines.dagster_defs.factory import build_catalog_definitions
from zensync_pipelines.dagster_defs.resources import CatalogDatabase, default_resources
from zensync_pipelines.dagster_defs.settings import AutomationSettings
from zensync_pipelines.demo.plans import seed_plans
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.systems.stripe import StripeResource

SPEC = {spec.name: spec for spec in load_specs()}["plans"]


def test_plans_sync_in_dagster_and_pass_their_checks(sqlite_url, stripe_sandbox_url):
    seed_plans(make_engine(sqlite_url), 4)
    resources = default_resources(catalog_db=CatalogDatabase(url=sqlite_url), stripe=StripeResource(
        api_key="sk_test_plans_dagster", api_base=stripe_sandbox_url, rate_limit_per_second=500))
    defs = Definitions.merge(build_catalog_definitions(SPEC, AutomationSettings()), Definitions(resources=resources))
    result = defs.resolve_job_def("sync_plans_stripe").execute_in_process(instance=DagsterInstance.ephemeral())
    assert result.success
    [event] = [e for e in result.get_asset_materialization_events() if e.partition is None]  # the run's totals
    metadata = {k: v.value for k, v in event.materialization.metadata.items()}
    assert (metadata["created"], metadata["failed"], metadata["strategy_mode"]) == (12, 0, "mirror")
    checks = {e.check_name: e for e in result.get_asset_check_evaluations()}
    parity = checks["parity"]
    assert parity.passed, parity.metadata
    assert {k: parity.metadata[k].value for k in ("product_synced", "monthly_price_synced",
                                                  "yearly_price_synced")} == dict.fromkeys(
        ("product_synced", "monthly_price_synced", "yearly_price_synced"), 4)
    assert checks["failed_rows"].passed
