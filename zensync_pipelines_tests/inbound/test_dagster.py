"""Inbound in Dagster: the inbox sensor starts the inbound job, whose materialization applies the events and whose
checks show the backlog, failed events with their reasons, and the age of the oldest."""

import dataclasses
import json

from dagster import DagsterInstance, Definitions, build_sensor_context

from zensync_pipelines.dagster_defs.factory import build_catalog_definitions
from zensync_pipelines.dagster_defs.inbound import inbound_job_name
from zensync_pipelines.dagster_defs.resources import CatalogDatabase
from zensync_pipelines.dagster_defs.settings import AutomationSettings
from zensync_pipelines.demo.tables import customers
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store import migrate
from zensync_pipelines.systems.stripe import StripeResource

from .helpers import KEY, SPECS, add_customers, by_hand, pull, push, row, store_events, stripe_events, stripe_id

SPEC = dataclasses.replace(SPECS["customers"], systems={"stripe": SPECS["customers"].systems["stripe"]})


def test_the_sensor_starts_the_inbound_job_which_applies_and_reports(database_url, stripe_sandbox_url, tmp_path):
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    add_customers(engine, 2)
    push(engine, stripe_sandbox_url)
    resources = {"catalog_db": CatalogDatabase(url=database_url),
                 "stripe": StripeResource(api_key=KEY, api_base=stripe_sandbox_url, rate_limit_per_second=500)}
    defs = Definitions.merge(build_catalog_definitions(SPEC, AutomationSettings()), Definitions(resources=resources))
    instance = DagsterInstance.local_temp(tempdir=str(tmp_path))
    sensor = defs.resolve_sensor_def("customers_stripe_inbox")

    def tick(cursor=None):
        return sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=cursor, resources=resources,
                                                         definitions=defs))

    pull(engine, stripe_sandbox_url)  # the creations' echoes
    by_hand(stripe_sandbox_url).v1.customers.update(stripe_id(engine, "customers", 2),
                                                    params={"address": {"city": "Shelbyville"}})
    pull(engine, stripe_sandbox_url)
    first = tick()
    assert len(first.run_requests) == 1 and first.cursor
    assert tick(first.cursor).skip_message.startswith("event")  # asked already: not again every tick
    latest = stripe_events(stripe_sandbox_url)[-1]
    bad = dict(latest, id="evt_bad", created=latest["created"] + 10)  # alone in its second: no read settles it
    bad["data"] = {"object": dict(bad["data"]["object"], email="not an email", id=stripe_id(engine, "customers", 1),
                                  metadata={"zenskar_id": "1"})}
    store_events(engine, [bad])
    result = defs.resolve_job_def(inbound_job_name(SPEC, "stripe")).execute_in_process(instance=instance)
    assert result.success
    [materialization] = [e.materialization for e in result.get_asset_materialization_events()]
    metadata = {k: v.value for k, v in materialization.metadata.items()}
    assert metadata["applied"] == 1 and metadata["failed"] == 1 and metadata["echo"] >= 1
    assert "invalid_email" in metadata["failures"] and "evt_bad" in metadata["failures"]
    assert row(engine, customers, 2)["city"] == "Shelbyville"
    checks = {evaluation.check_name: evaluation for evaluation in result.get_asset_check_evaluations()}
    assert checks["inbox_backlog"].passed is False  # the failed event, listed with its reason
    assert "not an email" in checks["inbox_backlog"].metadata["failed_events"].value
    assert checks["oldest_unapplied"].passed is True
    assert tick(json.dumps({"id": -1, "at": 0})).skip_message.startswith("no stripe event due")  # idle tick


def test_with_no_receiver_at_all_the_poll_schedule_still_brings_the_change(database_url, stripe_sandbox_url):
    from zensync_pipelines.dagster_defs.inbound_automation import build_polling_definitions

    engine = make_engine(database_url)
    migrate.upgrade(engine)
    add_customers(engine, 1)
    push(engine, stripe_sandbox_url)
    by_hand(stripe_sandbox_url).v1.customers.update(stripe_id(engine, "customers", 1),
                                                    params={"email": "polled@example.com"})
    resources = {"catalog_db": CatalogDatabase(url=database_url),
                 "stripe": StripeResource(api_key=KEY, api_base=stripe_sandbox_url, rate_limit_per_second=500)}
    jobs, schedules = build_polling_definitions(list(SPECS.values()), AutomationSettings())
    assert [s.name for s in schedules] == ["stripe_poll_events", "salesforce_Account_poll_events",
                                           "salesforce_Contact_poll_events"]  # Salesforce: one per object
    jobs, schedules = [j for j in jobs if j.name == "poll_stripe"], schedules[:1]
    defs = Definitions.merge(build_catalog_definitions(SPEC, AutomationSettings()),
                             Definitions(jobs=jobs, schedules=schedules, resources=resources))
    instance = DagsterInstance.ephemeral()
    polled = defs.resolve_job_def("poll_stripe").execute_in_process(instance=instance)
    assert polled.success
    [output] = [e for e in polled.all_events if e.event_type_value == "STEP_OUTPUT"]
    assert output.event_specific_data.metadata["stored"].value >= 2  # the creation and the edit
    applied = defs.resolve_job_def(inbound_job_name(SPEC, "stripe")).execute_in_process(instance=instance)
    assert applied.success and row(engine, customers, 1)["email"] == "polled@example.com"
    again = defs.resolve_job_def("poll_stripe").execute_in_process(instance=instance)
    [output] = [e for e in again.all_events if e.event_type_value == "STEP_OUTPUT"]
    assert output.event_specific_data.metadata["stored"].value == 0  # deduplicated by event id
