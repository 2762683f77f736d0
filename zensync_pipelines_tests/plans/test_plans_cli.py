"""Issue 29's proof through the command line alone: the Salesforce sandbox as `zensync dev` starts it, the plans
`zensync dev` seeds, `zensync sync plans salesforce`: every valid plan has its two PricebookEntries, a price
change moves UnitPrice, and a rerun makes no call."""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterator

import pytest
from click.testing import CliRunner
from simple_salesforce import Salesforce
from sqlalchemy import select, update

from zensync_pipelines.cli import main
from zensync_pipelines.demo.plans import NO_AMOUNT
from zensync_pipelines.demo.tables import plans
from zensync_pipelines.sandbox.starters import salesforce_sandbox
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.tables import sync_events

PLANS = 20  # what `zensync dev` seeds (cli/dev.py)


@pytest.fixture
def dev(database_url, tmp_path, monkeypatch) -> Iterator[Any]:
    for name in ("DAGSTER_HOME", "ZENSYNC_SENSORS_DEFAULT", "STRIPE_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    sandbox, variables = salesforce_sandbox(tmp_path, 0)
    env = {"ZENSYNC_DATABASE_URL": database_url, "ZENSYNC_DATA_DIR": str(tmp_path), "COLUMNS": "200", **variables}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    try:
        yield sandbox
    finally:
        sandbox.stop()


def zensync(*args: str) -> str:
    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_plans_reach_the_price_book_through_the_cli(dev, database_url) -> None:
    zensync("seed", "--customers", "0", "--plans", str(PLANS))
    zensync("sync", "plans", "salesforce")
    sf = Salesforce(instance_url=dev.instance_url, session_id=dev.new_session(), session=dev.requests_session())

    def entries() -> dict[str, dict[str, Any]]:
        query = "SELECT Zenskar_Id__c, UnitPrice, Pricebook2.Zenskar_Id__c FROM PricebookEntry"
        return {r["Zenskar_Id__c"]: r for r in sf.query_all(query)["records"]}

    valid = [i for i in range(1, PLANS + 1) if i % 25 != NO_AMOUNT]
    found = entries()
    assert set(found) == {f"{i}:{key}" for i in valid for key in ("monthly_entry", "yearly_entry")}
    assert {found[f"{i}:monthly_entry"]["Pricebook2"]["Zenskar_Id__c"] for i in valid} == {"standard"}
    assert {found[f"{i}:yearly_entry"]["Pricebook2"]["Zenskar_Id__c"] for i in valid} == {"yearly"}
    assert sf.query("SELECT COUNT() FROM Product2")["totalSize"] == PLANS

    engine = make_engine(database_url)
    with engine.begin() as connection:
        connection.execute(update(plans).where(plans.c.id == 2).values(
            monthly_amount=3300, updated_at=dt.datetime.now(dt.timezone.utc)))
    zensync("sync", "plans", "salesforce")
    assert entries()["2:monthly_entry"]["UnitPrice"] == 33.0
    with engine.connect() as connection:
        updated = connection.execute(select(sync_events.c.object_type, sync_events.c.outcome).where(
            sync_events.c.catalog == "plans", sync_events.c.internal_id == "2",
            sync_events.c.operation == "update")).all()
    assert [tuple(r) for r in updated] == [("monthly_entry", "synced")]
    engine.dispose()

    requests = dev.counters.total()
    zensync("sync", "plans", "salesforce")  # the rerun
    assert dev.counters.total() == requests  # not one API call: every fingerprint matched
