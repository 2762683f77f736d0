"""A dry run against Salesforce: old values read from the records as they are now, nothing written."""

import datetime as dt

from sqlalchemy import update

from zensync_pipelines.demo.tables import customers
from zensync_pipelines.engine.dryrun import Planner
from zensync_pipelines.engine.sync import Selection
from zensync_pipelines.store.catalog import CatalogTables
from zensync_pipelines.store.mappings import MappingStore

from .conftest import SPEC, resource_for, run_engine, seeded, soql, writes


def test_the_plan_reads_current_records_for_its_diffs_and_writes_nothing(sqlite_url, sb):
    engine = seeded(sqlite_url, 10)
    run_engine(engine, resource_for(sb).adapter())
    [before] = soql(sb, "SELECT Phone FROM Account WHERE Zenskar_Id__c = '1'")
    with engine.begin() as connection:
        connection.execute(update(customers).where(customers.c.id == 1).values(
            phone="+15559990000", updated_at=dt.datetime.now(dt.timezone.utc)))
    sb.counters.reset()
    adapter = resource_for(sb).adapter()
    plan = Planner(SPEC, "salesforce", CatalogTables(engine), MappingStore(engine), reader=adapter.current) \
        .plan(Selection(ids=["1"]))
    assert writes(sb.counters.snapshot()) == {}  # reads only
    account = next(s for s in plan.samples if s.object_type == "Account")
    assert [(c.path, c.old, c.new) for c in account.changes] == [("Phone", before["Phone"], "+15559990000")]
    assert soql(sb, "SELECT Phone FROM Account WHERE Zenskar_Id__c = '1'")[0]["Phone"] == before["Phone"]
