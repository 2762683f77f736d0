"""`stripe/subscriptions` and `salesforce/subscriptions` in Dagster over the demo seed: the shipped specs through
the factory, both sandboxes reached by the real SDKs, subscriptions waiting for their customers and plans, then a
Subscription__c linked to its Account and Product2 for each valid row, and following a quantity edit."""

import pytest
from dagster import DagsterInstance, Definitions
from simple_salesforce import Salesforce

from zensync_pipelines.catalogs import load_specs
from zensync_pipelines.dagster_defs.factory import build_catalog_definitions
from zensync_pipelines.dagster_defs.resources import CatalogDatabase, default_resources
from zensync_pipelines.demo.subscriptions import BAD_INTERVAL, seed_subscriptions
from zensync_pipelines.demo.tables import subscriptions
from zensync_pipelines.sandbox.salesforce import SalesforceSandbox
from zensync_pipelines.store import migrate
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.systems.salesforce import SalesforceResource
from zensync_pipelines.systems.stripe import StripeResource
from zensync_pipelines_tests.invoices.test_dagster_both_systems import run_job

from .helpers import edit, mapping

SPECS = {spec.name: spec for spec in load_specs()}
KEY = "sk_test_subscriptions"
FIELDS = "Zenskar_Id__c, Name, Account__r.Zenskar_Id__c, Product__r.Zenskar_Id__c, Interval__c, Quantity__c, " \
         "Status__c, Cancel_At_Period_End__c"


@pytest.fixture
def world(database_url, stripe_sandbox_url):
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    seed_subscriptions(engine, 30, 40, 10)
    with SalesforceSandbox() as sb:
        resources = default_resources(
            catalog_db=CatalogDatabase(url=database_url),
            stripe=StripeResource(api_key=KEY, api_base=stripe_sandbox_url, rate_limit_per_second=500),
            salesforce=SalesforceResource(login_url=sb.login_url, client_id="zensync-app",
                                          client_secret="app-secret", ca_bundle=sb.ca_file,
                                          retry_base_seconds=0.002, bulk_poll_seconds=0.02))
        definitions = Definitions.merge(*(build_catalog_definitions(spec) for spec in SPECS.values()),
                                         Definitions(resources=resources))
        yield engine, definitions, sb, stripe_sandbox_url
    engine.dispose()


def rows(engine):
    with engine.connect() as connection:
        return {str(r.id): dict(r._mapping) for r in connection.execute(subscriptions.select())}


def test_subscriptions_sync_to_both_systems_after_their_customers_and_plans(world):
    engine, definitions, sb, stripe_url = world
    instance = DagsterInstance.ephemeral()
    catalog = rows(engine)
    invalid = {i for i in catalog if int(i) % 50 == BAD_INTERVAL}
    valid = set(catalog) - invalid
    assert invalid and valid

    early = run_job(definitions, "sync_subscriptions_salesforce", instance)
    # A row waits for its customer and plan before its own data is checked (as invoices do).
    assert (early["waiting"], early["failed"], early["api_calls"]) == (len(catalog), 0, 0)
    for job in ("customers_stripe", "customers_salesforce", "plans_stripe", "plans_salesforce"):
        run_job(definitions, f"sync_{job}", instance)
    for system in ("salesforce", "stripe"):
        report = run_job(definitions, f"sync_subscriptions_{system}", instance)
        assert (report["created"], report["failed"], report["waiting"]) == (len(valid), len(invalid), 0)
        assert "'week' is not one of ['month', 'year']" in report["failures"]

    # Each subscription's start came back with Stripe's answer to its create (engine/write_back.py) and moved the
    # row's cursor: Salesforce takes it once, then nothing is left to send.
    assert all(r["started_at"] is not None for i, r in rows(engine).items() if i in valid)
    assert run_job(definitions, "sync_subscriptions_salesforce", instance)["updated"] == len(valid)
    sf = Salesforce(instance_url=sb.instance_url, session_id=sb.new_session(), session=sb.requests_session())
    assert sf.Subscription__c.get_by_custom_id("Zenskar_Id__c", sorted(valid)[0])["Started_At__c"]
    remote = {r["Zenskar_Id__c"]: r for r in sf.query_all(f"SELECT {FIELDS} FROM Subscription__c")["records"]}
    assert set(remote) == valid
    for i in valid:
        row, record = catalog[i], remote[i]
        assert (record["Name"], record["Interval__c"], record["Quantity__c"], record["Status__c"]) == \
            (f"SUB-{i}", row["interval"], row["quantity"], "active")
        assert record["Account__r"]["Zenskar_Id__c"] == str(row["customer_id"])
        assert record["Product__r"]["Zenskar_Id__c"] == str(row["plan_id"])
        assert record["Cancel_At_Period_End__c"] is False
        assert mapping(engine, "subscriptions", "stripe", i, "subscription")["status"] == "synced"

    some = sorted(valid, key=int)[0]
    edit(engine, int(some), quantity=catalog[some]["quantity"] + 3)
    for system in ("salesforce", "stripe"):
        assert run_job(definitions, f"sync_subscriptions_{system}", instance)["updated"] == 1
    record = sf.Subscription__c.get_by_custom_id("Zenskar_Id__c", some)
    assert record["Quantity__c"] == catalog[some]["quantity"] + 3
    for system in ("salesforce", "stripe"):
        assert run_job(definitions, f"sync_subscriptions_{system}", instance)["api_calls"] == 0
