"""A catalog added the way docs/adding-a-catalog.md says: its table (the page's SQL, run as it is) and its spec file
(taken from the page), on SQLite and on PostgreSQL.

Nothing in the engine, the factory or the adapters knows `products`; the factory gives it an asset group and a
job per system, and those jobs write to the Stripe sandbox (through the stripe SDK), the Salesforce sandbox
(Product2, through simple-salesforce's session) and the JSON-lines test system.
"""

import dataclasses
import sys

import pytest
import stripe
from dagster import AssetKey, DagsterInstance, Definitions
from simple_salesforce import Salesforce
from sqlalchemy import text

from zensync_pipelines.dagster_defs.factory import build_catalog_definitions
from zensync_pipelines.dagster_defs.resources import CatalogDatabase
from zensync_pipelines.catalogs import load_specs
from zensync_pipelines.engine.spec import ExternalObject, Field
from zensync_pipelines.sandbox.salesforce import SalesforceSandbox
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.systems.salesforce import SalesforceResource
from zensync_pipelines.systems.stripe import StripeResource

from ..jsonl_system import JsonlResource, JsonlSystem
from .docs import blocks



def spec_from_the_docs(tmp_path):
    """Step 2 of docs/adding-a-catalog.md: its spec file, as written there, loaded by the real loader; plus the
    JSON-lines test system, which the page does not know."""
    package = tmp_path / "walkthrough" / "walkthrough_catalogs"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "products.py").write_text(blocks("adding-a-catalog.md")["zensync_pipelines/catalogs/products.py"])
    sys.path.insert(0, str(package.parent))
    try:
        [spec] = load_specs("walkthrough_catalogs")
    finally:
        sys.path.remove(str(package.parent))
        for name in [m for m in sys.modules if m.startswith("walkthrough_catalogs")]:
            del sys.modules[name]
    assert spec.source.endswith("walkthrough_catalogs/products.py")
    return dataclasses.replace(spec, systems=dict(spec.systems) | {"jsonl": [ExternalObject("product", fields=[
        Field("name", "name", required=True),
        Field("sku", "sku", required=True),
        Field("active", "active", type="boolean"),
    ])]})


T0 = "2025-06-01 10:00:00+00"  # as the billing platform writes it: text on SQLite, a timestamptz on PostgreSQL
KEY = "sk_test_products"


def run_job(definitions, name, instance):
    result = definitions.resolve_job_def(name).execute_in_process(instance=instance)
    assert result.success
    # The months the run touched, then the run's totals: the one materialization without a partition.
    [event] = [e for e in result.get_asset_materialization_events() if e.partition is None]
    return {k: v.value for k, v in event.materialization.metadata.items()}


@pytest.fixture
def sb():
    with SalesforceSandbox() as sandbox:
        yield sandbox


def salesforce_products(sb):
    sf = Salesforce(instance_url=sb.instance_url, session_id=sb.new_session(), session=sb.requests_session())
    query = "SELECT Zenskar_Id__c, Name, ProductCode, IsActive FROM Product2"
    return {r["ProductCode"]: r for r in sf.query_all(query)["records"]}


def step_1_the_table(engine):
    """Step 1 of docs/adding-a-catalog.md: its SQL, statement by statement, as it is on the page."""
    with engine.begin() as connection:
        for statement in blocks("adding-a-catalog.md")["products.sql"].split(";"):
            if statement.strip():
                connection.exec_driver_sql(statement)


def test_a_catalog_declared_in_a_test_module_syncs_to_every_system(database_url, stripe_sandbox_url, sb, tmp_path):
    engine = make_engine(database_url)
    step_1_the_table(engine)
    with engine.begin() as connection:
        connection.execute(text(
            "INSERT INTO products (id, sku, name, description, active, created_at, updated_at) "
            "VALUES (:id, :sku, :name, NULL, :active, :stamp, :stamp)"),
            [{"id": i, "sku": f"SKU-{i:03d}", "name": f"Plan {i}", "active": i % 2 == 1, "stamp": T0}
             for i in range(1, 7)])
    journal = tmp_path / "products.jsonl"
    definitions = Definitions.merge(build_catalog_definitions(spec_from_the_docs(tmp_path)), Definitions(resources={
        "catalog_db": CatalogDatabase(url=database_url),
        "stripe": StripeResource(api_key=KEY, api_base=stripe_sandbox_url, rate_limit_per_second=200),
        "salesforce": SalesforceResource(login_url=sb.login_url, client_id="zensync-app",
                                         client_secret="app-secret", ca_bundle=sb.ca_file),
        "jsonl": JsonlResource(path=str(journal)),
    }))
    graph = definitions.resolve_asset_graph()
    assert {AssetKey(["catalog", "products"]), AssetKey(["stripe", "products"]), AssetKey(["jsonl", "products"])} \
        <= set(graph.get_all_asset_keys())
    assert AssetKey(["salesforce", "products"]) in graph.get_all_asset_keys()
    assert graph.get(AssetKey(["stripe", "products"])).group_name == "products"

    instance = DagsterInstance.ephemeral()
    assert run_job(definitions, "sync_products_stripe", instance)["created"] == 6
    assert run_job(definitions, "sync_products_salesforce", instance)["created"] == 6
    assert run_job(definitions, "sync_products_jsonl", instance)["created"] == 6

    client = stripe.StripeClient(KEY, base_addresses={"api": stripe_sandbox_url})
    remote = {p.metadata["sku"]: p for p in client.v1.products.list(params={"limit": 100}).auto_paging_iter()}
    assert sorted(remote) == [f"SKU-{i:03d}" for i in range(1, 7)] and remote["SKU-004"].name == "Plan 4"
    mirrored = JsonlSystem(journal).objects("product")
    assert sorted(o["sku"] for o in mirrored.values()) == sorted(remote)
    assert {o["sku"]: o["active"] for o in mirrored.values()}["SKU-002"] is False
    in_salesforce = salesforce_products(sb)
    assert sorted(in_salesforce) == sorted(remote) and in_salesforce["SKU-004"]["Name"] == "Plan 4"
    assert (in_salesforce["SKU-001"]["IsActive"], in_salesforce["SKU-002"]["IsActive"]) == (True, False)

    with engine.begin() as connection:  # a retired product is archived in Stripe: others may still point at it
        connection.execute(text("UPDATE products SET deleted_at = :stamp, updated_at = :later WHERE id = 2"),
                           {"stamp": T0, "later": "2025-06-02 09:30:00+02:00"})
    assert run_job(definitions, "sync_products_stripe", instance)["deleted"] == 1
    assert client.v1.products.retrieve(remote["SKU-002"].id).active is False
    assert run_job(definitions, "sync_products_salesforce", instance)["deleted"] == 1
    assert "SKU-002" not in salesforce_products(sb)
    assert run_job(definitions, "sync_products_jsonl", instance)["deleted"] == 1
    assert len(JsonlSystem(journal).objects("product")) == 5
    engine.dispose()
