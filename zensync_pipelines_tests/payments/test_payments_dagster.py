"""Payments through Dagster, as `zensync dev` runs them: the inbox sensor asks for the inbound job when a charge
event arrives, whose materialization adds the payments row; the change sensor then asks for the Salesforce copy,
whose run upserts the Payment__c linked to its Invoice__c; a refund follows the same way; reruns make no call."""

from __future__ import annotations

import json

from dagster import DagsterInstance, Definitions, build_sensor_context
from simple_salesforce import Salesforce

from zensync_pipelines.dagster_defs.factory import build_catalog_definitions
from zensync_pipelines.dagster_defs.resources import CatalogDatabase, default_resources
from zensync_pipelines.dagster_defs.scope import RECONCILE, whole_catalog_tags
from zensync_pipelines.dagster_defs.settings import AutomationSettings
from zensync_pipelines.sandbox.salesforce import SalesforceSandbox
from zensync_pipelines.store import migrate
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.systems.salesforce import SalesforceResource
from zensync_pipelines.systems.stripe import StripeResource
from zensync_pipelines_tests.inbound.helpers import KEY, SPECS, by_hand, pull

from .helpers import charge_of, pay, payment_rows, world


def materialized(result) -> dict:
    """The run's totals: an unpartitioned materialization's, else its months' counts added up (each month of a
    range run records its own; the first carries the run's API calls)."""
    events = [{k: v.value for k, v in e.materialization.metadata.items()} | {"partition": e.partition}
              for e in result.get_asset_materialization_events()]
    whole = [e for e in events if e["partition"] is None]
    if whole:
        return whole[-1]
    names = ("created", "updated", "deleted", "failed", "waiting")
    return events[0] | {n: sum(e[n] for e in events) for n in names} | {"api_calls": events[0]["run_api_calls"]}


def test_the_sensors_bring_a_card_payment_to_the_catalog_then_to_salesforce(database_url, stripe_sandbox_url,
                                                                            tmp_path):
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    world(engine, stripe_sandbox_url)
    with SalesforceSandbox() as sb:
        resources = default_resources(
            catalog_db=CatalogDatabase(url=database_url),
            stripe=StripeResource(api_key=KEY, api_base=stripe_sandbox_url, rate_limit_per_second=500),
            salesforce=SalesforceResource(login_url=sb.login_url, client_id="zensync-app",
                                          client_secret="app-secret", ca_bundle=sb.ca_file,
                                          retry_base_seconds=0.002))
        defs = Definitions.merge(*(build_catalog_definitions(SPECS[name], AutomationSettings())
                                   for name in ("customers", "invoices", "payments")), Definitions(resources=resources))
        instance = DagsterInstance.local_temp(tempdir=str(tmp_path))
        for job in ("sync_customers_salesforce", "sync_invoices_salesforce"):
            tags = whole_catalog_tags(SPECS[job.split("_")[1]], RECONCILE)
            assert defs.resolve_job_def(job).execute_in_process(instance=instance, tags=tags).success
        assert "sync_payments_stripe" not in {job.name for job in defs.resolve_all_job_defs()}

        inbox = defs.resolve_sensor_def("payments_stripe_inbox")
        changes = defs.resolve_sensor_def("payments_changes")

        def tick(sensor, cursor=None):
            return sensor.evaluate_tick(build_sensor_context(instance=instance, cursor=cursor, resources=resources,
                                                             definitions=defs))

        idle = tick(inbox, json.dumps({"id": -1, "at": 0}))
        assert idle.skip_message.startswith("no stripe event due")
        charge = charge_of(stripe_sandbox_url, pay(engine, stripe_sandbox_url, 1).id)
        pull(engine, stripe_sandbox_url)  # as the receiver or the poll schedule stores them
        asked = tick(inbox)
        assert len(asked.run_requests) == 1 and inbox.job_name == "inbound_payments_stripe"
        changes_cursor = tick(changes).cursor  # the change sensor's first tick: its cursor starts now

        result = defs.resolve_job_def("inbound_payments_stripe").execute_in_process(instance=instance)
        assert result.success and (materialized(result)["applied"], materialized(result)["failed"]) == (1, 0)
        [row] = payment_rows(engine)
        assert (row["invoice_id"], row["customer_id"], row["amount"], row["status"]) == (1, 1, 1000, "succeeded")

        follow = tick(changes, changes_cursor)
        assert [r.job_name for r in follow.run_requests] == ["sync_payments_salesforce"]
        [request] = follow.run_requests
        copy = defs.resolve_job_def("sync_payments_salesforce").execute_in_process(instance=instance,
                                                                                  tags=request.tags)
        assert copy.success and materialized(copy)["created"] == 1
        sf = Salesforce(instance_url=sb.instance_url, session_id=sb.new_session(), session=sb.requests_session())
        query = "SELECT Zenskar_Id__c, Invoice__r.Zenskar_Id__c, Account__r.Zenskar_Id__c, Amount__c, " \
                "Amount_Refunded__c FROM Payment__c"
        [record] = sf.query_all(query)["records"]
        assert (record["Zenskar_Id__c"], record["Invoice__r"]["Zenskar_Id__c"],
                record["Account__r"]["Zenskar_Id__c"], record["Amount__c"]) == (str(row["id"]), "1", "1", 10.0)

        by_hand(stripe_sandbox_url).v1.refunds.create({"charge": charge.id})
        pull(engine, stripe_sandbox_url)
        assert defs.resolve_job_def("inbound_payments_stripe").execute_in_process(instance=instance).success
        assert payment_rows(engine)[0]["amount_refunded"] == 1000
        follow = tick(changes, follow.cursor)
        [request] = follow.run_requests
        assert defs.resolve_job_def("sync_payments_salesforce").execute_in_process(instance=instance,
                                                                                  tags=request.tags).success
        assert sf.query_all(query)["records"][0]["Amount_Refunded__c"] == 10.0

        rerun = defs.resolve_job_def("inbound_payments_stripe").execute_in_process(instance=instance)
        assert (materialized(rerun)["applied"], materialized(rerun)["fetches"]) == (0, 0)
        tags = whole_catalog_tags(SPECS["payments"], RECONCILE)
        again = defs.resolve_job_def("sync_payments_salesforce").execute_in_process(instance=instance, tags=tags)
        assert again.success and materialized(again)["api_calls"] == 0
    engine.dispose()
