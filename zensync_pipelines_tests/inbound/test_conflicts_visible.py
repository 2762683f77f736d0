"""Conflicts you can see: a field changed on both sides shows in the inbound and outbound assets' metadata, fails
the last-day check (a warning), and `zensync explain` shows it beside the row's outbound writes and the change
applied from Stripe. A real Dagster instance, the stripe SDK against the sandbox, both databases."""

import dataclasses
import datetime as dt

from click.testing import CliRunner
from dagster import DagsterInstance, Definitions

from zensync_pipelines.cli import main
from zensync_pipelines.dagster_defs.factory import build_catalog_definitions
from zensync_pipelines.dagster_defs.inbound import inbound_job_name
from zensync_pipelines.dagster_defs.resources import CatalogDatabase
from zensync_pipelines.dagster_defs.settings import AutomationSettings
from zensync_pipelines.demo.tables import customers
from zensync_pipelines.store import migrate
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.systems.stripe import StripeResource

from .helpers import KEY, SPECS, add_customers, by_hand, edit, pull, push, row, stripe_id

SPEC = dataclasses.replace(SPECS["customers"], systems={"stripe": SPECS["customers"].systems["stripe"]})


def _metadata(result) -> dict:
    [materialization] = [e.materialization for e in result.get_asset_materialization_events()
                         if e.materialization.partition is None]
    return {k: v.value for k, v in materialization.metadata.items()}


def test_a_conflict_shows_in_both_assets_the_check_and_explain(database_url, stripe_sandbox_url, tmp_path,
                                                                monkeypatch):
    url = stripe_sandbox_url
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    add_customers(engine, 1)
    push(engine, url)
    # The catalog's email edit is the newer one (newest_wins keeps it); Stripe's phone edit has no rival.
    edit(engine, customers, 1, email="catalog@example.com",
         updated_at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5))
    by_hand(url).v1.customers.update(stripe_id(engine, "customers", 1),
                                     params={"email": "dashboard@example.com", "phone": "+1 555 0123"})
    pull(engine, url)
    resources = {"catalog_db": CatalogDatabase(url=database_url),
                 "stripe": StripeResource(api_key=KEY, api_base=url, rate_limit_per_second=500)}
    defs = Definitions.merge(build_catalog_definitions(SPEC, AutomationSettings()), Definitions(resources=resources))
    instance = DagsterInstance.local_temp(tempdir=str(tmp_path))

    inbound = defs.resolve_job_def(inbound_job_name(SPEC, "stripe")).execute_in_process(instance=instance)
    assert inbound.success
    metadata = _metadata(inbound)
    assert (metadata["applied"], metadata["conflicts"]) == (1, 1)
    assert "dashboard@example.com" in metadata["latest_conflicts"] and "catalog@example.com" in \
        metadata["latest_conflicts"] and "newest_wins" in metadata["latest_conflicts"]
    checks = {e.check_name: e for e in inbound.get_asset_check_evaluations()}
    assert checks["conflicts_last_day"].passed is False
    assert checks["conflicts_last_day"].metadata["conflicts"].value == 1
    assert (row(engine, customers, 1)["email"], row(engine, customers, 1)["phone"]) == \
        ("catalog@example.com", "+1 555 0123")

    outbound = defs.resolve_job_def("sync_customers_stripe_all").execute_in_process(instance=instance)
    assert outbound.success
    metadata = _metadata(outbound)
    assert metadata["updated"] == 1 and metadata["conflicts"] == 1
    assert "dashboard@example.com" in metadata["latest_conflicts"]
    assert by_hand(url).v1.customers.retrieve(stripe_id(engine, "customers", 1)).email == "catalog@example.com"

    monkeypatch.setenv("ZENSYNC_DATABASE_URL", database_url)
    monkeypatch.setenv("ZENSYNC_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("COLUMNS", "250")
    result = CliRunner().invoke(main, ["explain", "customers", "1"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    story = result.output
    assert "Conflicts" in story and "dashboard@example.com" in story and "newest_wins" in story
    lines = story.splitlines()
    assert any("customer.updated" in line and "│ in " in line and "applied" in line for line in lines)
    assert any("│ out " in line and "update" in line for line in lines)
