"""`stripe/invoices` and `salesforce/invoices` end to end in Dagster: the shipped specs through the factory, both
sandboxes reached by the real SDKs, invoices waiting for their customers, then following line and status edits."""

import datetime as dt

import pytest
from dagster import DagsterInstance, Definitions
from simple_salesforce import Salesforce
from sqlalchemy import update

from zensync_pipelines.catalogs import load_specs
from zensync_pipelines.dagster_defs.factory import build_catalog_definitions
from zensync_pipelines.dagster_defs.resources import CatalogDatabase, default_resources
from zensync_pipelines.dagster_defs.scope import RECONCILE, partitions_def, whole_catalog_tags
from zensync_pipelines.demo.invoices import MISSING_CUSTOMER, NEGATIVE_QUANTITY, UNKNOWN_CURRENCY, seed_invoices
from zensync_pipelines.demo.tables import invoices
from zensync_pipelines.sandbox.salesforce import SalesforceSandbox
from zensync_pipelines.engine.sync import sync
from zensync_pipelines.store import migrate
from zensync_pipelines.store.catalog import CatalogTables
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines.systems.salesforce import SalesforceResource
from zensync_pipelines.systems.stripe import StripeResource

from .helpers import KEY, catalog_rows, remote_invoices, set_line, touch

SPECS = {spec.name: spec for spec in load_specs()}
INVALID = {str(NEGATIVE_QUANTITY), str(UNKNOWN_CURRENCY), str(MISSING_CUSTOMER)}
INVOICE_FIELDS = "Zenskar_Id__c, Name, Account__r.Zenskar_Id__c, Amount__c, Currency__c, Status__c, " \
                 "Issued_Date__c, Due_Date__c"


@pytest.fixture
def world(database_url, stripe_sandbox_url):
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    seed_invoices(engine, 40, 50)
    with SalesforceSandbox() as sb:
        # Every registered system's resource, these two pointed at the sandboxes: a new system needs no edit here.
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


def run_job(definitions, name, instance):
    """A whole-catalog run, tagged as the reconcile schedule tags it."""
    catalog = name.split("_")[1]
    tags = whole_catalog_tags(SPECS[catalog], RECONCILE)
    result = definitions.resolve_job_def(name).execute_in_process(instance=instance, tags=tags)
    assert result.success
    events = [{k: v.value for k, v in e.materialization.metadata.items()} | {"partition": e.partition}
              for e in result.get_asset_materialization_events()]
    whole = [e for e in events if e["partition"] is None]
    if whole:  # customers: the run's totals, after the months it touched
        return whole[-1]
    # invoices reference customers' partitioned copies, so their whole-catalog runs target every month, each
    # recorded with its own counts: they add up to the run's.
    names = ("created", "updated", "deleted", "skipped", "failed", "waiting")
    assert len(events) == len(partitions_def(SPECS[catalog]).get_partition_keys())  # every month
    return events[0] | {n: sum(e[n] for e in events) for n in names} | {"api_calls": events[0]["run_api_calls"],
                                                            "failures": "\n".join(e["failures"] for e in events)}


def salesforce_invoices(sb):
    sf = Salesforce(instance_url=sb.instance_url, session_id=sb.new_session(), session=sb.requests_session())
    return {r["Zenskar_Id__c"]: r for r in sf.query_all(f"SELECT {INVOICE_FIELDS} FROM Invoice__c")["records"]}


def total(lines, currency):
    minor = sum(line["quantity"] * line["unit_amount"] for line in lines)
    return minor if currency == "jpy" else minor / 100


def test_invoices_sync_to_both_systems_after_their_customers(world):
    engine, definitions, sb, stripe_url = world
    instance = DagsterInstance.ephemeral()
    rows, lines = catalog_rows(engine)
    valid = set(rows) - INVALID

    early = run_job(definitions, "sync_invoices_salesforce", instance)
    assert (early["waiting"], early["failed"], early["api_calls"]) == (len(rows) - 1, 1, 0)
    assert "customer not synced to salesforce yet" in early["failures"]

    for job in ("sync_customers_stripe", "sync_customers_salesforce"):
        assert run_job(definitions, job, instance)["failed"] > 0  # the customer seed's invalid rows, not ours
    to_salesforce = run_job(definitions, "sync_invoices_salesforce", instance)
    to_stripe = run_job(definitions, "sync_invoices_stripe", instance)
    for report in (to_salesforce, to_stripe):
        assert (report["created"], report["failed"], report["waiting"]) == (len(valid), len(INVALID), 0)
    assert to_salesforce["api_calls"] < to_stripe["api_calls"] / 10  # Collections: up to 200 records a call
    usage = to_salesforce["api_usage"]  # the org's daily allocation as Salesforce last reported it
    assert usage["daily_api_limit"] == 15000 and 0 < usage["daily_api_used"] <= sum(sb.counters.snapshot().values())

    remote = salesforce_invoices(sb)
    assert set(remote) == valid
    in_stripe = remote_invoices(stripe_url)  # an invoice void before its first sync is never billed in Stripe
    assert set(in_stripe) == {i for i in valid if rows[i]["status"] != "void"}
    for i in valid:
        row, record = rows[i], remote[i]
        assert record["Name"] == row["number"] and record["Account__r"]["Zenskar_Id__c"] == str(row["customer_id"])
        assert record["Amount__c"] == pytest.approx(total(lines[i], row["currency"]))
        assert (record["Currency__c"], record["Status__c"]) == (row["currency"].upper(), row["status"])
        assert record["Due_Date__c"] == row["due_date"].isoformat()
        assert record["Issued_Date__c"] == (row["issued_at"].date().isoformat() if row["issued_at"] else None)

    draft = next(i for i in sorted(valid, key=int) if rows[i]["status"] == "draft")
    set_line(engine, lines[draft][0]["id"], quantity=lines[draft][0]["quantity"] + 2)  # a line-only change
    touch(engine, int(draft))  # what the application does on a line edit: the invoice's cursor moves too
    gone = next(i for i in sorted(valid, key=int) if i != draft)
    with engine.begin() as connection:
        connection.execute(update(invoices).where(invoices.c.id == int(gone))
                           .values(deleted_at=dt.datetime.now(dt.timezone.utc)))
    again = run_job(definitions, "sync_invoices_salesforce", instance)
    assert (again["updated"], again["deleted"], again["created"]) == (1, 1, 0)
    remote = salesforce_invoices(sb)
    assert gone not in remote
    expected = total(lines[draft], rows[draft]["currency"]) + 2 * lines[draft][0]["unit_amount"] / (
        1 if rows[draft]["currency"] == "jpy" else 100)
    assert remote[draft]["Amount__c"] == pytest.approx(expected)
    assert run_job(definitions, "sync_invoices_salesforce", instance)["api_calls"] == 0
    # The one-click job of a catalog whose copies need partitions: an op, so it runs without one.
    whole = definitions.resolve_job_def("sync_invoices_salesforce_all").execute_in_process(instance=instance)
    [totals] = [e for e in whole.get_asset_materialization_events() if e.partition is None]
    assert whole.success and totals.materialization.metadata["api_calls"].value == 0


def test_large_invoice_batches_go_through_bulk_with_the_same_results(world):
    engine, definitions, sb, _ = world
    resource = definitions.resources["salesforce"].model_copy(update={"bulk_threshold": 10})
    customers = sync(SPECS["customers"], "salesforce", CatalogTables(engine), MappingStore(engine),
                     resource.adapter(), "r1")
    report = sync(SPECS["invoices"], "salesforce", CatalogTables(engine), MappingStore(engine), resource.adapter(),
                  "r2")
    assert customers.failed == 3 and (report.created, report.failed) == (37, len(INVALID))
    assert any("/jobs/ingest" in route for route in sb.counters.snapshot()) and set(salesforce_invoices(sb)) == \
        set(catalog_rows(engine)[0]) - INVALID
