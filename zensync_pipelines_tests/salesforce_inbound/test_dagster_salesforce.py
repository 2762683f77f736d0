"""Salesforce inbound in Dagster: the per-object poll job reads a sales edit into the inbox, and the inbound job
(the same asset factory as Stripe's) applies it to the catalog with the run's counts as metadata."""

import dataclasses

from dagster import DagsterInstance, Definitions

from zensync_pipelines.catalogs.customers import SPEC as CUSTOMERS
from zensync_pipelines.dagster_defs.factory import build_catalog_definitions
from zensync_pipelines.dagster_defs.inbound import inbound_job_name
from zensync_pipelines.dagster_defs.inbound_automation import build_polling_definitions
from zensync_pipelines.dagster_defs.resources import CatalogDatabase
from zensync_pipelines.dagster_defs.settings import AutomationSettings
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines_tests.salesforce.conftest import resource_for

from .test_inbound_customers import row, synced

SPEC = dataclasses.replace(CUSTOMERS, systems={"salesforce": CUSTOMERS.systems["salesforce"]})


def metadata(result, kind):
    [output] = [e for e in result.all_events if e.event_type_value == kind]
    data = output.event_specific_data
    return {k: v.value for k, v in (data.metadata if kind == "STEP_OUTPUT" else data.materialization.metadata).items()}


def test_poll_jobs_per_object_then_the_inbound_job_applies_a_sales_edit(sb, sales, database_url):
    engine = synced(sb, database_url, 2)
    resources = {"catalog_db": CatalogDatabase(url=database_url), "salesforce": resource_for(sb)}
    jobs, schedules = build_polling_definitions([SPEC], AutomationSettings())
    assert [s.name for s in schedules] == ["salesforce_Account_poll_events", "salesforce_Contact_poll_events"]
    defs = Definitions.merge(build_catalog_definitions(SPEC, AutomationSettings()),
                             Definitions(jobs=jobs, schedules=schedules, resources=resources))
    instance = DagsterInstance.ephemeral()
    for job in ("poll_salesforce_Account", "poll_salesforce_Contact"):  # first ticks: the cursors start now
        assert defs.resolve_job_def(job).execute_in_process(instance=instance).success
    [account] = [m for m in MappingStore(engine).rows("customers", "salesforce") if m["object_type"] == "Account"
                 and m["internal_id"] == "1"]
    sales.Account.update(account["external_id"], {"BillingStreet": "1 Sales Street"})
    polled = defs.resolve_job_def("poll_salesforce_Account").execute_in_process(instance=instance)
    assert polled.success and metadata(polled, "STEP_OUTPUT")["stored"] >= 1
    applied = defs.resolve_job_def(inbound_job_name(SPEC, "salesforce")).execute_in_process(instance=instance)
    assert applied.success and row(engine, "1")["address_line1"] == "1 Sales Street"
    counts = metadata(applied, "ASSET_MATERIALIZATION")
    assert counts["applied"] == 1 and counts["failed"] == 0 and counts["fetches"] >= 1
