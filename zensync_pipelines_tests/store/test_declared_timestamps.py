"""The table of docs/adding-a-catalog.md, created by its DDL as written (`timestamptz` columns) and filled by plain
SQL with timestamp strings, reads on SQLite as on PostgreSQL: `zensync plan` on it crashed on SQLite with
`TypeError: must be real number, not str` (SQLite's NUMERIC affinity for an unknown type name)."""

import datetime as dt

from sqlalchemy import text

from zensync_pipelines.engine.dryrun import Planner
from zensync_pipelines.engine.sync import Selection
from zensync_pipelines.store.catalog import CatalogTables
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines_tests.extensibility.docs import blocks, spec_from_the_docs

ROWS = """INSERT INTO products (id, sku, name, active, created_at, updated_at, deleted_at) VALUES
  (1, 'SKU-1', 'Alpha', true, '2025-03-01 10:00:00+00', '2025-03-02 10:00:00+00', NULL),
  (2, 'SKU-2', 'Beta', true, '2025-04-01 09:30:00+02', '2025-04-05 12:00:00.250+00', NULL),
  (3, 'SKU-3', 'Gamma', false, '2025-05-01 08:00:00', '2025-05-02 08:00:00', '2025-05-03 08:00:00+00')"""


def utc(value):
    """Naive values (SQLite) are UTC; aware ones (PostgreSQL) are compared in UTC."""
    return value.astimezone(dt.timezone.utc).replace(tzinfo=None) if value.tzinfo else value


def test_the_docs_table_with_timestamptz_plans_and_reads_on_both_databases(engine, tmp_path):
    with engine.begin() as connection:
        for statement in blocks("adding-a-catalog.md")["products.sql"].split(";"):
            if statement.strip():
                connection.execute(text(statement))
        connection.execute(text(ROWS))
    spec = spec_from_the_docs(tmp_path)
    tables = CatalogTables(engine)
    plan = Planner(spec, "stripe", tables, MappingStore(engine)).plan(Selection())
    assert plan.counts[("product", "create")] == 2 and plan.rejected_total == 0  # row 3 is soft-deleted

    [rows] = list(tables.iter_chunks(spec, Selection(), 10))
    by_id = {row["id"]: row for row in rows}
    assert utc(by_id[2]["created_at"]) == dt.datetime(2025, 4, 1, 7, 30)  # its +02 offset taken into account
    assert utc(by_id[2]["updated_at"]) == dt.datetime(2025, 4, 5, 12, 0, 0, 250000)
    assert utc(by_id[3]["deleted_at"]) == dt.datetime(2025, 5, 3, 8, 0)
    since = dt.datetime(2025, 4, 1, tzinfo=dt.timezone.utc)  # the change sensor's incremental read
    assert [row["id"] for chunk in tables.iter_chunks(spec, Selection(changed_since=since), 10)
            for row in chunk] == [2, 3]
