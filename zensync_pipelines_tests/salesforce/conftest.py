"""Fixtures: a Salesforce sandbox per test over real HTTPS, seeded catalogs, and helpers to run and inspect syncs."""

from __future__ import annotations

import uuid
from typing import Any, Iterator

import pytest
from dagster import DagsterInstance, materialize
from simple_salesforce import Salesforce
from sqlalchemy import Engine, select

from zensync_pipelines.catalogs import load_specs
from zensync_pipelines.dagster_defs.factory import build_catalog_definitions
from zensync_pipelines.dagster_defs.resources import CatalogDatabase
from zensync_pipelines.demo.seed import seed_customers
from zensync_pipelines.demo.tables import customers
from zensync_pipelines.engine.spec import CatalogSpec
from zensync_pipelines.engine.sync import sync
from zensync_pipelines.engine.types import SyncReport
from zensync_pipelines.sandbox.salesforce import SalesforceSandbox
from zensync_pipelines.store import migrate
from zensync_pipelines.store.catalog import CatalogTables
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines.systems.salesforce import SalesforceAdapter, SalesforceResource

SPEC = {spec.name: spec for spec in load_specs()}["customers"]
# Fast backoff and Bulk polling: the sandbox answers at once, and faults are what the tests are about.
FAST = {"retry_base_seconds": 0.002, "retry_max_seconds": 0.02, "bulk_poll_seconds": 0.02}


@pytest.fixture
def sb() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox() as sandbox:
        yield sandbox


def resource_for(sb: SalesforceSandbox, **settings: Any) -> SalesforceResource:
    """OAuth client credentials against the sandbox unless the test picks other settings."""
    defaults = {"login_url": sb.login_url, "client_id": "zensync-app", "client_secret": "app-secret",
                "ca_bundle": sb.ca_file}
    return SalesforceResource(**(defaults | FAST | settings))


def seeded(url: str, count: int) -> Engine:
    engine = make_engine(url)
    migrate.upgrade(engine)
    seed_customers(engine, count)
    return engine


def catalog_rows(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as connection:
        return {str(r.id): dict(r._mapping) for r in connection.execute(select(customers))}


def materialize_salesforce(database_url: str, resource: SalesforceResource, **kwargs: Any) -> Any:
    assets = [a for a in build_catalog_definitions(SPEC).assets if a.key.path[0] in ("catalog", "salesforce")]
    return materialize(assets, instance=kwargs.pop("instance", None) or DagsterInstance.ephemeral(),
                       resources={"catalog_db": CatalogDatabase(url=database_url), "salesforce": resource}, **kwargs)


def metadata_of(result: Any) -> dict[str, Any]:
    assert result.success
    [event] = [e for e in result.get_asset_materialization_events() if e.asset_key.path == ["salesforce",
                                                                                             "customers"]
               and e.partition is None]  # the run's totals; the months it touched come before
    return {key: value.value for key, value in event.materialization.metadata.items()}


def run_engine(engine: Engine, adapter: SalesforceAdapter, spec: CatalogSpec = SPEC) -> SyncReport:
    """The engine without Dagster, for tests about the adapter's behaviour rather than the wiring."""
    return sync(spec, "salesforce", CatalogTables(engine), MappingStore(engine), adapter, uuid.uuid4().hex)


def soql(sb: SalesforceSandbox, query: str) -> list[dict[str, Any]]:
    sf = Salesforce(instance_url=sb.instance_url, session_id=sb.new_session(), session=sb.requests_session())
    return sf.query_all(query)["records"]


def contacts_by_row(sb: SalesforceSandbox) -> dict[str, list[str]]:
    """Row id -> the row ids of the Accounts its Contacts point at (one entry per Contact)."""
    found: dict[str, list[str]] = {}
    for record in soql(sb, "SELECT Zenskar_Id__c, Account.Zenskar_Id__c FROM Contact"):
        found.setdefault(record["Zenskar_Id__c"], []).append((record.get("Account") or {}).get("Zenskar_Id__c"))
    return found


def account_ids(sb: SalesforceSandbox) -> list[str]:
    return [r["Zenskar_Id__c"] for r in soql(sb, "SELECT Zenskar_Id__c FROM Account")]


def writes(counters: dict[str, int]) -> dict[str, int]:
    """Calls that change data (Collections and Bulk), by route."""
    return {route: n for route, n in counters.items()
            if route.split()[0] in ("PATCH", "POST", "PUT", "DELETE") and "/services/data/" in route}


def valid_ids(rows: dict[str, dict[str, Any]]) -> tuple[set[str], set[str]]:
    """(rows whose Account is valid, rows whose Contact is valid) under the customers spec's Salesforce rules."""
    accounts = {i for i, r in rows.items() if r["name"] and len(r["name"]) <= 255 and r["deleted_at"] is None}
    contacts = {i for i in accounts if "@" in (rows[i]["email"] or "@") and len(rows[i]["name"].split()[-1]) <= 80}
    return accounts, contacts
