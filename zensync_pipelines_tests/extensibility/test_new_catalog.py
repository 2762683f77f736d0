"""docs/adding-a-catalog.md followed literally, on SQLite and on PostgreSQL: in a copy of the checkout, its SQL files
and its spec file are written from the page's blocks, and every command block of the walk-through runs as a user
types it (`sqlite3`/`psql`, `dagster definitions validate`, `zensync plan`, `zensync sync`, `dagster asset
materialize`, the regenerate command) from the copy's root; the products are then read back from the Stripe and
Salesforce sandboxes through the stripe SDK and simple-salesforce.

The page's `products` writes the object types the shipped `plans` catalog writes (Stripe products, Product2), each
under a tag of its own: the copy loads every shipped spec beside it, so a collision would fail the first command.
"""

import re

import pytest
import stripe
from simple_salesforce import Salesforce

from zensync_pipelines.sandbox.salesforce import SalesforceSandbox
from zensync_pipelines.sandbox.salesforce.spec_fields import write_schema

from .docs import blocks, spec_from_the_docs
from .walk import commands, copy_checkout, environment, typed

PAGE = "adding-a-catalog.md"
SPEC_FILE = "zensync_pipelines/catalogs/products.py"
KEY = "sk_test_walkthrough"
SNAPSHOT = "zensync_pipelines_tests/dagster/definitions_snapshot.txt"


@pytest.fixture
def org(tmp_path):
    schema_file, added = write_schema(tmp_path, [spec_from_the_docs(tmp_path)])
    assert added == ["Product2.Zenskar_Product_Id__c"]
    with SalesforceSandbox(schema_file=schema_file) as sandbox:
        yield sandbox


def counts(output: str, label: str) -> list[int]:
    """The numbers of the table row that starts with `label` (the commands print rich tables)."""
    for line in output.splitlines():
        cells = [c.strip() for c in re.split(r"[│┃|]", line) if c.strip()]
        if cells and cells[0] == label:
            return [int(c) for c in cells[1:] if c.isdigit()]
    raise AssertionError(f"no {label!r} row in:\n{output}")


def totals(output: str) -> dict[str, int]:
    """The run's totals table of `zensync sync`: its header row, then the first row of numbers under it."""
    lines = output.splitlines()
    header = next(i for i, line in enumerate(lines) if "created" in line and "api calls" in line)
    names = [c.strip() for c in re.split(r"[│┃|]", lines[header]) if c.strip()]
    values = next(cells for line in lines[header + 1:]
                  if (cells := [c.strip() for c in re.split(r"[│┃|]", line) if c.strip()]) and cells[0].isdigit())
    return dict(zip(names, (int(float(v)) for v in values)))


def run(command, checkout, env):
    done = typed(command, checkout, env)
    assert done.returncode == 0, f"{command}\nexit {done.returncode}\n{done.stdout}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def test_the_page_followed_literally(database_url, stripe_sandbox_url, org, tmp_path):
    steps = blocks(PAGE)
    checkout = copy_checkout(tmp_path / "checkout")
    settings = {"STRIPE_API_KEY": KEY, "STRIPE_API_BASE": stripe_sandbox_url,
                "SALESFORCE_LOGIN_URL": org.login_url, "SALESFORCE_CLIENT_ID": "zensync-app",
                "SALESFORCE_CLIENT_SECRET": "app-secret", "SALESFORCE_CA_BUNDLE": org.ca_file}
    if database_url.startswith("postgresql"):
        settings["ZENSYNC_DATABASE_URL"] = database_url
    env = environment(checkout, settings)

    # Step 1: the SQL files, run in the catalog database with the page's own command for it.
    (checkout / "products.sql").write_text(steps["products.sql"])
    (checkout / "products-rows.sql").write_text(steps["products-rows.sql"])
    if database_url.startswith("sqlite"):
        (checkout / ".zensync").mkdir()  # the README's quick start made the data folder
        [create] = commands(steps["sqlite"])
    else:
        [create] = commands(steps["postgresql"])
        create = create.replace("postgresql://USER@HOST:5432/DBNAME", database_url.replace("+psycopg2", "", 1))
    run(create, checkout, env)
    run(create.replace("products.sql", "products-rows.sql"), checkout, env)

    # Step 2: the spec file, where the page says; then the page's commands, in its order.
    (checkout / SPEC_FILE).write_text(steps[SPEC_FILE])
    validate, plan, to_stripe, to_salesforce = commands(steps["sync"])
    sqlite = database_url.startswith("sqlite")
    if sqlite:  # reads no catalog row: once is enough (walk.py)
        assert "Validation successful for code location zensync" in run(validate, checkout, env)
    assert counts(run(plan, checkout, env), "product")[:2] == [3, 0]  # create, update
    out = run(to_stripe, checkout, env)
    assert re.search(r"sync_products_stripe: run \S+ succeeded", out) and totals(out)["created"] == 3
    client = stripe.StripeClient(KEY, base_addresses={"api": stripe_sandbox_url})
    products = list(client.v1.products.list(params={"limit": 100}).auto_paging_iter())
    assert sorted((p.name, p.metadata.to_dict()) for p in products) == [  # products' own tag, never plans'
        (name, {"sku": f"SKU-00{i}", "zenskar_product_id": str(i)})
        for i, name in [(2, "Growth"), (3, "Legacy"), (1, "Starter")]]
    out = run(to_salesforce, checkout, env)
    assert re.search(r"sync_products_salesforce: run \S+ succeeded", out) and totals(out)["created"] == 3
    sf = Salesforce(instance_url=org.instance_url, session_id=org.new_session(), session=org.requests_session())
    records = sf.query_all("SELECT Zenskar_Product_Id__c, Zenskar_Id__c, Name, ProductCode, IsActive "
                           "FROM Product2")["records"]
    assert sorted((r["Zenskar_Product_Id__c"], r["Zenskar_Id__c"], r["Name"], r["ProductCode"], r["IsActive"])
                  for r in records) == [("1", None, "Starter", "SKU-001", True), ("2", None, "Growth", "SKU-002", True),
                                        ("3", None, "Legacy", "SKU-003", False)]

    for command in commands(steps["materialize"]):  # a month, then the quarter: everything already in place
        assert "RUN_SUCCESS" in run(command, checkout, env)
    assert len(list(client.v1.products.list(params={"limit": 100}).auto_paging_iter())) == 3

    if not sqlite:
        return
    check, regenerate = commands(steps["regenerate"])
    stale = typed(check, checkout, env)
    assert stale.returncode == 1 and SNAPSHOT in stale.stdout + stale.stderr
    run(regenerate, checkout, env)
    listing = (checkout / SNAPSHOT).read_text()
    assert "asset stripe/products group=products" in listing and "job sync_products_salesforce" in listing
