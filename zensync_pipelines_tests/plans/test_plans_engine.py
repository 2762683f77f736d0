"""The shipped `plans` catalog against the Stripe sandbox through the engine: a product and two prices per plan,
the price's product filled in from the same row, replace-on-change, default_price moved, a plan deleted."""

import datetime as dt

import stripe
from sqlalchemy import update

from zensync_pipelines.catalogs import load_specs
from zensync_pipelines.demo.plans import seed_plans
from zensync_pipelines.demo.tables import plans
from zensync_pipelines.engine.sync import Selection, sync
from zensync_pipelines.store import migrate
from zensync_pipelines.store.catalog import CatalogTables
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines.systems.stripe import StripeAdapter

SPEC = {spec.name: spec for spec in load_specs()}["plans"]
KEY = "sk_test_plans"
LATER = dt.datetime(2027, 1, 1, tzinfo=dt.timezone.utc)


class World:
    def __init__(self, url, stripe_url):
        self.engine = make_engine(url)
        migrate.upgrade(self.engine)
        seed_plans(self.engine, 6)
        self.stripe_url, self.runs = stripe_url, 0
        self.mappings = MappingStore(self.engine)
        self.client = stripe.StripeClient(KEY, base_addresses={"api": stripe_url})

    def sync(self):
        self.runs += 1
        adapter = StripeAdapter(KEY, self.stripe_url, rate_limit_per_second=500, max_network_retries=0)
        return sync(SPEC, "stripe", CatalogTables(self.engine), self.mappings, adapter, f"run-{self.runs}",
                    Selection())

    def set(self, plan_id, **values):
        with self.engine.begin() as connection:
            connection.execute(update(plans).where(plans.c.id == plan_id).values(updated_at=LATER, **values))

    def ids(self, plan_id):
        return {r["object_type"]: r["external_id"] for r in self.mappings.rows("plans", "stripe",
                                                                               internal_id=str(plan_id))}

    def prices(self, product_id):
        listed = self.client.v1.prices.list(params={"product": product_id, "limit": 100}).auto_paging_iter()
        return {p.id: p for p in listed}


def test_plans_reach_stripe_with_replace_on_change(sqlite_url, stripe_sandbox_url):
    world = World(sqlite_url, stripe_sandbox_url)
    first = world.sync()
    assert (first.created, first.failed) == (18, 0)
    ids = world.ids(2)
    assert set(ids) == {"product", "monthly_price", "yearly_price"}
    product = world.client.v1.products.retrieve(ids["product"])
    monthly = world.client.v1.prices.retrieve(ids["monthly_price"])
    yearly = world.client.v1.prices.retrieve(ids["yearly_price"])
    assert product.name == "Team 1" and product.default_price == monthly.id
    assert (monthly.product, monthly.unit_amount, monthly.recurring.interval) == (product.id, 2900, "month")
    assert (yearly.product, yearly.unit_amount, yearly.recurring.interval) == (product.id, 29000, "year")
    assert monthly.metadata["zenskar_object"] == "monthly_price" and monthly.metadata["zenskar_id"] == "2"
    assert world.sync().api_calls == 0  # fingerprints are exact: nothing to do

    # An amount change replaces the price: new price, default moved, old archived; the yearly one stays.
    world.set(2, monthly_amount=3100)
    # A name change updates the product and the prices' nicknames, in place.
    world.set(3, name="Business Plus")
    second = world.sync()
    assert (second.updated, second.created, second.failed) == (1 + 3, 0, 0)
    after = world.ids(2)
    assert after["monthly_price"] != ids["monthly_price"] and after["yearly_price"] == ids["yearly_price"]
    assert world.client.v1.products.retrieve(ids["product"]).default_price == after["monthly_price"]
    prices = world.prices(ids["product"])
    assert prices[after["monthly_price"]].unit_amount == 3100 and prices[after["monthly_price"]].active
    assert not prices[ids["monthly_price"]].active and prices[ids["yearly_price"]].active
    renamed = world.ids(3)
    assert world.client.v1.products.retrieve(renamed["product"]).name == "Business Plus"
    assert world.client.v1.prices.retrieve(renamed["yearly_price"]).nickname == "Business Plus (yearly)"
    assert world.sync().api_calls == 0

    # A deleted plan: the default pointer cleared, both prices and the product archived.
    world.set(4, deleted_at=LATER)
    third = world.sync()
    assert (third.deleted, third.failed) == (3, 0)
    gone = world.ids(4)
    assert not world.client.v1.products.retrieve(gone["product"]).active
    assert not any(p.active for p in world.prices(gone["product"]).values())
    assert {r["status"] for r in world.mappings.rows("plans", "stripe", internal_id="4")} == {"deleted"}
    assert world.sync().api_calls == 0


def test_a_product_already_in_stripe_is_adopted_by_name_on_create(sqlite_url, stripe_sandbox_url):
    world = World(sqlite_url, stripe_sandbox_url)
    existing = world.client.v1.products.create(params={"name": "Starter 1"})
    world.client.v1.products.create(params={"name": "Team 1", "active": False})  # archived: never adopted
    assert world.sync().failed == 0
    assert world.ids(1)["product"] == existing.id
    adopted = world.client.v1.products.retrieve(existing.id)
    assert adopted.metadata["zenskar_id"] == "1" and adopted.default_price == world.ids(1)["monthly_price"]
    named = [p for p in world.client.v1.products.list(params={"limit": 100}).auto_paging_iter()
             if p.name in ("Starter 1", "Team 1")]
    assert sorted((p.name, p.active) for p in named) == [("Starter 1", True), ("Team 1", False), ("Team 1", True)]


def test_plans_reach_salesforce_as_product2(sqlite_url):
    from simple_salesforce import Salesforce

    from zensync_pipelines.sandbox.salesforce import SalesforceSandbox
    from zensync_pipelines.systems.salesforce import SalesforceResource

    world = World(sqlite_url, "http://unused")
    with SalesforceSandbox() as sb:
        resource = SalesforceResource(login_url=sb.login_url, client_id="zensync-app", client_secret="app-secret",
                                      ca_bundle=sb.ca_file, retry_base_seconds=0.002)
        sf = Salesforce(instance_url=sb.instance_url, session_id=sb.new_session(), session=sb.requests_session())

        def run(run_id):
            return sync(SPEC, "salesforce", CatalogTables(world.engine), world.mappings, resource.adapter(), run_id,
                        Selection())

        def remote():
            query = "SELECT Zenskar_Id__c, Name, ProductCode FROM Product2"
            return {r["Zenskar_Id__c"]: r for r in sf.query_all(query)["records"]}

        assert run("s1").created == 6 * 3  # a Product2 and two PricebookEntries (test_plans_pricebook.py)
        assert remote()["3"]["ProductCode"] == "PLAN-3" and remote()["3"]["Name"] == "Business 1"
        world.set(2, monthly_amount=3100)  # the standard PricebookEntry's UnitPrice, not the Product2
        world.set(3, name="Business Plus")
        world.set(4, deleted_at=LATER)
        report = run("s2")
        assert (report.updated, report.deleted, report.failed) == (2, 3, 0)
        assert remote()["3"]["Name"] == "Business Plus" and "4" not in remote()
        assert run("s3").api_calls == 0


def test_a_replacement_interrupted_after_its_create_finishes_without_a_second_price(sqlite_url, stripe_sandbox_url,
                                                                                    monkeypatch):
    from zensync_pipelines.systems.stripe.objects import ResourceHandler

    world = World(sqlite_url, stripe_sandbox_url)
    world.sync()
    old = world.ids(1)
    world.set(1, monthly_amount=1900)
    retire = ResourceHandler.delete

    def lost(self, external_id, key):
        raise stripe.APIConnectionError("connection reset while archiving")

    monkeypatch.setattr(ResourceHandler, "delete", lost)
    failed = world.sync()
    assert failed.failed == 1 and world.ids(1)["monthly_price"] == old["monthly_price"]
    monkeypatch.setattr(ResourceHandler, "delete", retire)
    done = world.sync()
    assert (done.updated, done.failed) == (1, 0)
    prices = world.prices(old["product"])
    new = world.ids(1)["monthly_price"]
    assert len(prices) == 3 and new not in (old["monthly_price"], old["yearly_price"])  # old, new, yearly: no twin
    assert prices[new].unit_amount == 1900 and not prices[old["monthly_price"]].active
    assert world.client.v1.products.retrieve(old["product"]).default_price == new
    assert world.sync().api_calls == 0
