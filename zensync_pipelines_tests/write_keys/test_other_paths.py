"""A value set back to an earlier one, on every other path that derives keys or leans on the system to deduplicate:
invoices (fields and line items), plan prices (replaced, never updated), Salesforce upserts through Collections
and Bulk 2.0 (external-id upserts carry no key: naturally safe) and the tag written back onto a record made in
Salesforce. Each ends with the last value in the system."""

from __future__ import annotations

import datetime as dt
import uuid

import pytest
from simple_salesforce import Salesforce
from sqlalchemy import update

from zensync_pipelines.demo.invoices import seed_invoices
from zensync_pipelines.demo.tables import customers
from zensync_pipelines.sandbox.salesforce import SalesforceSandbox
from zensync_pipelines.store import migrate
from zensync_pipelines.store.db import make_engine

from ..invoices.helpers import catalog_rows, mapping, remote_items, run, set_line, touch
from ..invoices.helpers import client as stripe_client
from ..plans.test_plans_engine import World
from ..salesforce.conftest import resource_for, run_engine, seeded


@pytest.fixture
def invoice_catalog(database_url):
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    seed_invoices(engine, 20, 30)
    yield engine
    engine.dispose()


def test_an_invoice_memo_and_line_set_back_reach_stripe(invoice_catalog, stripe_sandbox_url):
    url, engine = stripe_sandbox_url, invoice_catalog
    run(engine, url, "customers", "c1")
    run(engine, url, "invoices", "i1")
    rows, lines = catalog_rows(engine)
    draft = next(i for i, row in sorted(rows.items(), key=lambda kv: int(kv[0]))
                 if row["status"] == "draft" and mapping(engine, i)["status"] == "synced")
    invoice_id, line = mapping(engine, draft)["external_id"], lines[draft][0]
    for step, (memo, quantity) in enumerate([("Alpha", 2), ("Beta", 3), ("Alpha", 2), ("Beta", 3)], start=1):
        touch(engine, int(draft), memo=memo)
        set_line(engine, line["id"], quantity=quantity)
        report = run(engine, url, "invoices", f"i{step + 1}")
        assert report.updated == 1 and mapping(engine, draft)["status"] == "synced", report.counts()
        assert stripe_client(url).v1.invoices.retrieve(invoice_id).description == memo
        item = remote_items(url, invoice_id)[str(line["id"])]
        assert (item.metadata["quantity"], item.amount) == (str(quantity), quantity * line["unit_amount"])


def test_a_plan_price_set_back_is_replaced_each_time(database_url, stripe_sandbox_url):
    world = World(database_url, stripe_sandbox_url)
    world.sync()
    first = world.ids(2)["monthly_price"]
    seen = [first]
    for amount in (3100, 2900, 3100):
        world.set(2, monthly_amount=amount)
        assert (world.sync().updated, world.ids(2)["monthly_price"] in seen) == (1, False)
        seen.append(world.ids(2)["monthly_price"])
        product = world.client.v1.products.retrieve(world.ids(2)["product"])
        prices = world.prices(product.id)
        assert product.default_price == seen[-1] and prices[seen[-1]].unit_amount == amount
        assert [p.id for p in prices.values() if p.active and p.recurring.interval == "month"] == [seen[-1]]
    assert len(set(seen)) == 4  # a new Price for every change, the set-back ones included


@pytest.mark.parametrize("bulk_threshold", [2000, 0], ids=["collections", "bulk"])
def test_salesforce_upserts_of_a_value_set_back_are_safe_without_keys(database_url, bulk_threshold):
    with SalesforceSandbox() as sb:
        engine = seeded(database_url, 3)
        adapter = resource_for(sb, bulk_threshold=bulk_threshold).adapter()
        run_engine(engine, adapter)
        sf = Salesforce(instance_url=sb.instance_url, session_id=sb.new_session(), session=sb.requests_session())
        for city in ("Alpha", "Beta", "Alpha", "Beta", "Alpha"):
            with engine.begin() as connection:
                connection.execute(update(customers).where(customers.c.id == 2).values(
                    city=city, updated_at=dt.datetime.now(dt.timezone.utc)))
            report = run_engine(engine, adapter)
            assert (report.updated, report.failed) == (1, 0), report.counts()
            [account] = sf.query_all("SELECT Id, BillingCity FROM Account WHERE Zenskar_Id__c = '2'")["records"]
            assert account["BillingCity"] == city
        engine.dispose()


def test_the_tag_written_back_onto_a_record_made_in_salesforce_is_idempotent_by_value():
    with SalesforceSandbox() as sb:
        adapter = resource_for(sb).adapter()
        sf = Salesforce(instance_url=sb.instance_url, session_id=sb.new_session(), session=sb.requests_session())
        made = sf.Account.create({"Name": f"Made by hand {uuid.uuid4().hex[:6]}"})["id"]
        first = adapter.write_tags("Account", {made: "41"})[made]
        again = adapter.write_tags("Account", {made: "41"})[made]  # a rerun after a crash: the same value again
        assert first.ok and again.ok
        records = sf.query_all("SELECT Id, Zenskar_Id__c FROM Account WHERE Zenskar_Id__c = '41'")["records"]
        assert [(r["Id"][:15], r["Zenskar_Id__c"]) for r in records] == [(made[:15], "41")]
