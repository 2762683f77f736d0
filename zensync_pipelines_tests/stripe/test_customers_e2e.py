"""customers -> Stripe through Dagster, with the real stripe SDK over HTTP to a local Stripe server."""

import datetime as dt

import pytest
import stripe
from dagster import DagsterInstance, materialize
from sqlalchemy import update

from zensync_pipelines.catalogs import load_specs
from zensync_pipelines.dagster_defs.factory import build_catalog_definitions
from zensync_pipelines.dagster_defs.resources import CatalogDatabase
from zensync_pipelines.demo.seed import seed_customers
from zensync_pipelines.demo.tables import customers
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines.systems.stripe import StripeResource

SPEC = {spec.name: spec for spec in load_specs()}["customers"]
API_KEY = "sk_test_zensync_e2e"


def sync_customers(database_url, stripe_url):
    # The spec also feeds Salesforce; this run needs only the catalog and its Stripe copy.
    assets = [a for a in build_catalog_definitions(SPEC).assets if a.key.path[0] in ("catalog", "stripe")]
    result = materialize(assets, instance=DagsterInstance.ephemeral(), resources={
        "catalog_db": CatalogDatabase(url=database_url),
        "stripe": StripeResource(api_key=API_KEY, api_base=stripe_url, rate_limit_per_second=200),
    })
    assert result.success
    [event] = [e for e in result.get_asset_materialization_events()
               if e.asset_key.path == ["stripe", "customers"] and e.partition is None]  # the run's totals
    return {k: v.value for k, v in event.materialization.metadata.items()}


def stripe_customers(stripe_url):
    client = stripe.StripeClient(API_KEY, base_addresses={"api": stripe_url})
    return list(client.v1.customers.list(params={"limit": 100}).auto_paging_iter())


def expected_rows(engine):
    with engine.connect() as connection:
        return {str(r.id): r._mapping for r in connection.execute(customers.select())}


def is_valid(row):
    return (row["name"] is not None and len(row["name"]) <= 256 and "@" in (row["email"] or "@")
            and row["deleted_at"] is None)


@pytest.fixture
def stripe_sandbox():
    """A fresh sandbox per test (the suite's is shared by the session): each parametrization syncs the same seed
    into an empty account, so it neither sees nor replays what the previous one created under the same keys."""
    from zensync_pipelines.sandbox.stripe import StripeSandbox

    with StripeSandbox(rate_limit=None) as sandbox:
        yield sandbox


@pytest.fixture(params=["stripe_sandbox", "localstripe"])
def stripe_url(request):
    """Both the project's sandbox and localstripe, an independent implementation of the calls used here."""
    return request.getfixturevalue(f"{request.param}_url")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_customers_sync_to_stripe_end_to_end(backend, request, stripe_url):
    database_url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "postgres_url")
    engine = make_engine(database_url)
    seed_customers(engine, 200)
    rows = expected_rows(engine)
    valid = {i for i, row in rows.items() if is_valid(row)}
    assert 180 < len(valid) < 200  # the seed has a few invalid rows on purpose

    first = sync_customers(database_url, stripe_url)
    assert (first["created"], first["failed"]) == (len(valid), 200 - len(valid))
    assert first["api_calls"] == len(valid)

    remote = stripe_customers(stripe_url)
    by_row = {}
    for customer in remote:
        by_row.setdefault(customer.metadata["zenskar_id"], []).append(customer)
    assert set(by_row) == valid and all(len(found) == 1 for found in by_row.values())
    for internal_id, [customer] in by_row.items():
        row = rows[internal_id]
        assert (customer.name, customer.email, customer.phone) == (row["name"], row["email"], row["phone"])
        assert customer.address.city == row["city"] and customer.address.country == row["country"]
        assert customer.metadata["currency"] == row["currency"]

    store = MappingStore(engine)
    mapped = {m["internal_id"]: m for m in store.rows("customers", "stripe")}
    assert {i for i, m in mapped.items() if m["status"] == "synced"} == valid
    assert all(mapped[i]["external_id"] == by_row[i][0].id for i in valid)
    for internal_id in set(rows) - valid:
        failure = mapped[internal_id]
        assert failure["status"] == "invalid" and failure["last_error_field"] in ("name", "email")
        assert failure["last_error"]
    assert "| row | object | status | field | reason |" in first["failures"]

    again = sync_customers(database_url, stripe_url)
    assert again["api_calls"] == 0 and again["created"] == again["updated"] == 0
    # Invalid rows are settled too (engine/settled.py): left unread until they change, so skipped, not failed again;
    # their mapping rows still say invalid, for the failed-rows check.
    assert (again["skipped"], again["failed"]) == (len(rows), 0)

    changed, removed = sorted(valid, key=int)[:3], sorted(valid, key=int)[3]
    now = dt.datetime.now(dt.timezone.utc)
    with engine.begin() as connection:
        for internal_id in changed:
            connection.execute(update(customers).where(customers.c.id == int(internal_id))
                               .values(phone="+15550000000", updated_at=now))
        connection.execute(update(customers).where(customers.c.id == int(removed))
                           .values(deleted_at=now, updated_at=now))
    third = sync_customers(database_url, stripe_url)
    assert (third["updated"], third["deleted"], third["api_calls"]) == (3, 1, 4)
    remote = {c.metadata["zenskar_id"]: c for c in stripe_customers(stripe_url)}
    assert removed not in remote and len(remote) == len(valid) - 1
    assert all(remote[i].phone == "+15550000000" for i in changed)
    engine.dispose()
