"""The operator commands against a real catalog database, the Stripe sandbox and a real Dagster instance."""

import datetime as dt
import os
import re
import subprocess
import sys

import pytest
import stripe
from click.testing import CliRunner
from dagster import AssetKey, DagsterInstance, RunsFilter
from sqlalchemy import delete, func, select, update

from zensync_pipelines.cli import main
from zensync_pipelines.demo.seed import seed_customers
from zensync_pipelines.demo.tables import customers
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines.store.state import StateStore
from zensync_pipelines.store.tables import mappings, sync_events

ROWS = 20
KEY = "sk_test_zensync_ops"
# The status table's customers/stripe row; the column is as wide as the longest catalog name (subscriptions).
CUSTOMERS_STRIPE = re.compile(r"│ customers +│ stripe ")


@pytest.fixture
def ops(database_url, stripe_sandbox_url, tmp_path, monkeypatch):
    for name in ("DAGSTER_HOME", "ZENSYNC_SENSORS_DEFAULT"):
        monkeypatch.delenv(name, raising=False)
    env = {"ZENSYNC_DATABASE_URL": database_url, "ZENSYNC_DATA_DIR": str(tmp_path), "STRIPE_API_KEY": KEY,
           "STRIPE_API_BASE": stripe_sandbox_url, "COLUMNS": "200"}
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    engine = make_engine(database_url)
    seed_customers(engine, ROWS)

    class Ops:
        def __init__(self):
            self.engine, self.home = engine, tmp_path / "dagster_home"

        def __call__(self, *args, code=0):
            # The commands' work, run here as on one machine: the queued way is test_queued_cli.py's.
            args = [*args, "--in-process"] if args[0] in ("sync", "retry") else list(args)
            result = CliRunner().invoke(main, args, catch_exceptions=False)
            assert result.exit_code == code, result.output
            return result.output

        def remote(self):
            client = stripe.StripeClient(KEY, base_addresses={"api": stripe_sandbox_url})
            return {c.metadata["zenskar_id"]: c for c in client.v1.customers.list(params={"limit": 100})
                    .auto_paging_iter()}

        def set_row(self, row_id, **values):
            with engine.begin() as connection:
                connection.execute(update(customers).where(customers.c.id == row_id).values(
                    updated_at=dt.datetime.now(dt.timezone.utc), **values))

        def table_counts(self):
            with engine.connect() as connection:
                return [connection.execute(select(func.count()).select_from(t)).scalar()
                        for t in (mappings, sync_events)]

    yield Ops()
    engine.dispose()


def test_sync_runs_the_whole_catalog_as_a_recorded_dagster_run(ops):
    output = ops("sync", "customers", "stripe")
    assert "sync_customers_stripe: run" in output and "succeeded" in output
    assert set(ops.remote()) == {str(i) for i in range(1, ROWS + 1)} - {"7"}  # row 7 is invalid on purpose
    with DagsterInstance.from_config(str(ops.home)) as instance:
        [record] = instance.get_run_records(RunsFilter(job_name="sync_customers_stripe"))
        assert record.dagster_run.status.value == "SUCCESS"
        assert instance.get_materialized_partitions(AssetKey(["stripe", "customers"]))  # the months it touched

    with ops.engine.begin() as connection:
        connection.execute(delete(customers).where(customers.c.id == 3))
    ops("sync", "customers", "stripe")
    assert "3" in ops.remote()  # a plain sync reads rows; only --full looks for rows gone from the catalog
    ops("sync", "customers", "stripe", "--full")
    assert "3" not in ops.remote()


def test_plan_shows_counts_diffs_and_rejections_and_writes_nothing(ops):
    ops("sync", "customers", "stripe")
    old_name = ops.remote()["2"].name
    ops.set_row(2, name="Planned Name")
    before, remote_before = ops.table_counts(), ops.remote()
    output = ops("plan", "customers", "stripe")
    assert ops.table_counts() == before and ops.remote()["2"].name == remote_before["2"].name == old_name
    assert "dry run: nothing was written" in output
    lines = output.splitlines()
    [counts] = [line for line in lines if line.startswith("│ customer ")]
    assert [cell.strip() for cell in counts.split("│")[2:8]] == ["0", "1", "0", str(ROWS - 2), "1", "0"]
    [diff] = [line for line in lines if "Planned Name" in line]
    assert "│ 2 " in diff and "│ name " in diff and repr(old_name) in diff
    [rejected] = [line for line in lines if line.startswith("│ 7 ") and "invalid" in line]
    assert "is required but empty" in rejected

    only = ops("plan", "customers", "stripe", "--ids", "1,2")
    [counts] = [line for line in only.splitlines() if line.startswith("│ customer ")]
    assert [cell.strip() for cell in counts.split("│")[2:8]] == ["0", "1", "0", "1", "0", "0"]


def test_retry_resyncs_only_rows_that_did_not_sync(ops):
    ops("sync", "customers", "stripe")
    ops.set_row(7, name="Fixed Seven")
    ops.set_row(8, name="Changed Eight")  # synced before: a retry of failed rows leaves it alone
    output = ops("retry", "customers", "stripe")
    assert ops.remote()["7"].name == "Fixed Seven" and ops.remote()["8"].name != "Changed Eight"
    [totals] = [line for line in output.splitlines() if line.startswith("│ ")]
    created, _, _, skipped, failed, _, api_calls, _ = [cell.strip() for cell in totals.split("│")[1:-1]]
    assert (created, skipped, failed, api_calls) == ("1", "0", "0", "1")  # row 7 only: one call
    ops("retry", "customers", "stripe", "--ids", "8")
    assert ops.remote()["8"].name == "Changed Eight"
    with DagsterInstance.from_config(str(ops.home)) as instance:
        runs = instance.get_run_records(RunsFilter(job_name="sync_customers_stripe"))
        assert len(runs) == 3 and {r.dagster_run.tags.get("zensync/scope") for r in runs} == {None, "retry"}


def test_status_and_explain_tell_where_each_catalog_and_row_stands(ops):
    ops("sync", "customers", "stripe")
    StateStore(ops.engine).put("salesforce", "api_usage",
                               {"used": 1234, "limit": 15000, "observed_at": "2026-12-02T12:00:00+00:00"})
    output = ops("status")
    [row] = [line for line in output.splitlines() if CUSTOMERS_STRIPE.match(line)]
    cells = [cell.strip() for cell in row.split("│")[1:-1]]
    assert cells[2:8] == [str(ROWS - 1), "0", "1", "0", "0", "0"] and cells[9] == "success"
    assert "Salesforce API budget: 1234 of 15000 calls used today (as last reported, 2026-12-02T12:00:00" in output
    assert cells[11] == "-"  # no transient failure, no automatic retry scheduled

    # A transient failure's automatic retry (issue 13's schedule) shows in its catalog's row.
    due = dt.datetime(2030, 1, 2, 3, 4, tzinfo=dt.timezone.utc)
    with ops.engine.begin() as connection:
        connection.execute(update(mappings).where(mappings.c.internal_id == "5").values(
            status="failed", failure_kind="transient", next_retry_at=due))
    [row] = [line for line in ops("status").splitlines() if CUSTOMERS_STRIPE.match(line)]
    assert "2030-01-02 03:04" in row.split("│")[12]

    external = MappingStore(ops.engine).rows("customers", "stripe", internal_id="5")[0]["external_id"]
    story = ops("explain", "customers", "5")
    assert external in story and "synced" in story and "create" in story
    story = ops("explain", "customers", "7")
    assert "invalid" in story and "is required but empty" in story
    assert "never planned" in ops("explain", "customers", "999", code=1)
    assert "no catalog 'nope'" in ops("explain", "nope", "1", code=2)


def test_sync_of_a_range_of_months_is_one_recorded_run_over_the_rows_created_then(ops):
    utc = dt.timezone.utc
    with ops.engine.connect() as connection:
        spring = {str(i) for i in connection.execute(select(customers.c.id).where(
            customers.c.created_at >= dt.datetime(2025, 3, 1, tzinfo=utc),
            customers.c.created_at < dt.datetime(2025, 5, 1, tzinfo=utc))).scalars()}
    assert spring
    output = ops("sync", "customers", "stripe", "--from", "2025-03", "--to", "2025-04")
    assert set(ops.remote()) == spring - {"7"}
    [totals] = [line for line in output.splitlines() if line.startswith("│ ")]
    assert totals.split("│")[1].strip() == str(len(spring - {"7"}))
    with DagsterInstance.from_config(str(ops.home)) as instance:
        assert instance.get_materialized_partitions(AssetKey(["stripe", "customers"])) == {"2025-03-01",
                                                                                            "2025-04-01"}
    assert "not a month" in ops("sync", "customers", "stripe", "--from", "March", code=2)


def test_status_and_explain_stay_whole_in_a_pipe(ops):
    """As `zensync status | grep customers` runs them: no terminal, no COLUMNS; rich cut names to fit 80 columns."""
    ops("sync", "customers", "stripe")
    env = {name: value for name, value in os.environ.items() if name != "COLUMNS"}
    outputs = {}
    for args in (["status"], ["explain", "customers", "5"]):
        done = subprocess.run([sys.executable, "-m", "zensync_pipelines.cli", *args], env=env, capture_output=True,
                              text=True, timeout=120)
        assert done.returncode == 0, done.stderr
        assert "…" not in done.stdout, done.stdout
        outputs[args[0]] = done.stdout
    assert [line for line in outputs["status"].splitlines() if CUSTOMERS_STRIPE.match(line)]
    assert "customers" in outputs["explain"] and "stripe" in outputs["explain"]
