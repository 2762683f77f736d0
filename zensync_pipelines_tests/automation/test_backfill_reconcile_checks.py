"""Backfills over created-at months, the reconcile schedule, and the checks on an external copy."""

import datetime as dt

import pytest
from dagster import AssetKey, AssetSelection, Definitions, build_schedule_context, define_asset_job
from sqlalchemy import delete, func, select

from zensync_pipelines.dagster_defs.scope import CHANGED_SINCE_TAG, RANGE_END, RANGE_START, SCOPE_TAG, month_of
from zensync_pipelines.dagster_defs.settings import AutomationSettings
from zensync_pipelines.demo.tables import customers
from zensync_pipelines.store.changes import encode
from zensync_pipelines.store.mappings import MappingStore

from .harness import SPEC, Harness

ROWS = 60
INVALID = {"7", "23", "41", "57"}  # the seed breaks these rows on purpose
KEY = AssetKey(["stripe", "customers"])


@pytest.fixture
def harness(database_url, stripe_sandbox_url, tmp_path):
    harness = Harness(database_url, stripe_sandbox_url, ROWS, AutomationSettings(freshness_max_lag_minutes=0),
                      str(tmp_path / "dagster"))
    yield harness
    harness.engine.dispose()


def created_in(harness, start, end):
    with harness.engine.connect() as connection:
        query = select(customers.c.id).where(customers.c.created_at >= start, customers.c.created_at < end)
        return {str(i) for i in connection.execute(query).scalars()}


def by_month(result):
    """Each materialization's counts by partition (None: a whole-catalog run's totals)."""
    return {e.partition: {k: v.value for k, v in e.materialization.metadata.items()}
            for e in result.get_asset_materialization_events() if e.asset_key == KEY}


def test_a_partition_range_is_one_run_over_the_rows_created_in_those_months(harness):
    harness.set_row(2, created_at=dt.datetime(2019, 6, 1, tzinfo=dt.timezone.utc))  # before partition_start
    utc = dt.timezone.utc
    march = created_in(harness, dt.datetime(2025, 3, 1, tzinfo=utc), dt.datetime(2025, 4, 1, tzinfo=utc))
    april = created_in(harness, dt.datetime(2025, 4, 1, tzinfo=utc), dt.datetime(2025, 5, 1, tzinfo=utc))
    spring = created_in(harness, dt.datetime(2025, 3, 1, tzinfo=utc), dt.datetime(2025, 6, 1, tzinfo=utc))
    assert march and april and len(spring) > len(march)

    _, one = harness.run(partition_key="2025-03-01")
    assert one["created"] == len(march - INVALID) and one["failed"] == len(march & INVALID)

    result, _ = harness.run({RANGE_START: "2025-03-01", RANGE_END: "2025-05-01"})
    months = by_month(result)
    assert set(months) == {"2025-03-01", "2025-04-01", "2025-05-01"}  # one run, a materialization per month
    # Each month carries its own rows' outcomes, not the run's: March was synced already, April is new.
    assert (months["2025-03-01"]["created"], months["2025-03-01"]["skipped"]) == (0, len(march - INVALID))
    assert months["2025-04-01"]["created"] == len(april - INVALID)
    assert months["2025-04-01"]["failed"] == len(april & INVALID)
    assert sum(m["created"] for m in months.values()) == len(spring - march - INVALID)
    assert all(m["run_api_calls"] == len(spring - march - INVALID) for m in months.values())
    assert set(harness.remote()) == spring - INVALID

    first, last = "2025-01-01", harness.defs.resolve_job_def("sync_customers_stripe").partitions_def \
        .get_last_partition_key()
    result, _ = harness.run({RANGE_START: first, RANGE_END: last})
    assert "2" in harness.remote()  # all months selected: rows older than partition_start come too
    months = by_month(result)
    assert months[first]["created"] >= 1  # ... counted in the first month
    assert sum(m["created"] for m in months.values()) == ROWS - len(INVALID) - len(spring - INVALID)


def test_a_whole_catalog_run_materializes_only_the_months_it_touched_with_their_own_counts(harness):
    result, totals = harness.run({SCOPE_TAG: "changes"})
    months = by_month(result)
    assert totals["created"] == ROWS - len(INVALID)  # the run's totals: the one event without a partition
    touched = {m for m in months if m is not None}
    assert sum(months[m]["created"] for m in touched) == totals["created"]
    assert all(months[m]["created"] + months[m]["failed"] > 0 for m in touched)

    changed_at = dt.datetime.now(dt.timezone.utc).replace(microsecond=0) + dt.timedelta(days=1)
    harness.set_row(5, name="Only Row Five Changed", updated_at=changed_at)
    with harness.engine.connect() as connection:
        created = connection.execute(select(customers.c.created_at).where(customers.c.id == 5)).scalar()
    # What the sensor asks for after that change: the rows changed since then, one month touched.
    result, totals = harness.run({SCOPE_TAG: "changes", CHANGED_SINCE_TAG: encode(changed_at)})
    assert totals["updated"] == 1
    months = by_month(result)
    assert set(months) == {f"{created:%Y-%m}-01", None}
    assert months[f"{created:%Y-%m}-01"]["updated"] == 1

    # Every row re-read, nothing to write: only the months of the rows that fail again (the seed's invalid
    # ones) are recorded, plus the run's totals; months of rows merely skipped are not.
    with harness.engine.connect() as connection:
        invalid_months = {month_of(SPEC, {"created_at": c}) for c in connection.execute(
            select(customers.c.created_at).where(customers.c.id.in_([int(i) for i in INVALID]))).scalars()}
    result, totals = harness.run({SCOPE_TAG: "reconcile"})
    assert totals["skipped"] == ROWS - len(INVALID) and set(by_month(result)) == {None, *invalid_months}


def test_reconcile_retries_failed_rows_finds_drift_and_deletes_rows_gone_from_the_catalog(harness):
    _, first = harness.run({SCOPE_TAG: "changes"})
    assert first["created"] == ROWS - len(INVALID)
    with harness.engine.begin() as connection:
        connection.execute(delete(customers).where(customers.c.id == 3))  # a hard delete: no cursor sees it
        stamp = connection.execute(select(customers.c.updated_at).where(customers.c.id == 7)).scalar()
    harness.set_row(7, name="Fixed Without Touching The Cursor", updated_at=stamp)  # drift the sensor cannot see

    schedule = harness.defs.resolve_schedule_def("customers_stripe_reconcile")
    context = build_schedule_context(instance=harness.instance, resources=harness.resources,
                                     scheduled_execution_time=dt.datetime(2026, 1, 1, 3, tzinfo=dt.timezone.utc))
    [request] = schedule.evaluate_tick(context).run_requests
    assert request.tags[SCOPE_TAG] == "reconcile" and request.run_key == "reconcile-20260101T0300"
    _, metadata = harness.run(request.tags)
    assert (metadata["created"], metadata["deleted"], metadata["failed"]) == (1, 1, len(INVALID) - 1)
    remote = harness.remote()
    assert "3" not in remote and remote["7"].name == "Fixed Without Touching The Cursor"
    assert MappingStore(harness.engine).rows("customers", "stripe", internal_id="3")[0]["status"] == "deleted"

    _, again = harness.run(request.tags)
    assert (again["created"], again["deleted"], again["api_calls"]) == (0, 0, 0)  # idempotent


def check_results(harness):
    job = define_asset_job("checks_only", selection=AssetSelection.checks_for_assets(KEY))
    defs = Definitions.merge(harness.defs, Definitions(jobs=[job]))
    result = defs.resolve_job_def("checks_only").execute_in_process(instance=harness.instance)
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_checks_report_parity_failed_rows_and_freshness(harness):
    result, metadata = harness.run({SCOPE_TAG: "changes"})
    after_sync = {e.check_name: e for e in result.get_asset_check_evaluations()}
    assert set(after_sync) == {"parity", "failed_rows", "freshness", "drift"}  # the checks run with every sync
    assert after_sync["freshness"].passed
    drift = after_sync["drift"]  # a change run reads nothing back: the check says so instead of passing
    assert not drift.passed and drift.metadata["last_read_back"].value == "never"
    assert "No read-back of stripe yet" in drift.description
    assert metadata["failures"].startswith("| row | object | status | field | reason |")

    checks = check_results(harness)
    parity = checks["parity"]
    assert not parity.passed and parity.metadata["rows_in_scope"].value == ROWS
    assert parity.metadata["customer_missing"].value == len(INVALID)
    failed = checks["failed_rows"]
    assert not failed.passed and failed.metadata["invalid"].value == len(INVALID)
    assert set(failed.metadata["row_ids"].value.split(", ")) == INVALID
    assert "| 7 | customer | invalid |" in failed.metadata["rows"].value
    assert checks["freshness"].passed  # nothing changed since the sync

    with harness.engine.begin() as connection:
        newest = connection.execute(select(func.max(customers.c.updated_at))).scalar()
    harness.set_row(1, updated_at=dt.datetime.now(dt.timezone.utc))  # unsynced, and the allowed lag is zero
    freshness = check_results(harness)["freshness"]
    assert not freshness.passed and freshness.metadata["lag_minutes"].value >= 0
    assert newest is not None

    for row_id in (7, 23, 41, 57):
        harness.set_row(row_id, deleted_at=dt.datetime.now(dt.timezone.utc))
    _, reconciled = harness.run({SCOPE_TAG: "reconcile"})
    assert reconciled["drift_checked"] == ROWS - len(INVALID) and reconciled["drift_changed"] == 0  # read back
    checks = check_results(harness)
    assert checks["parity"].passed and checks["failed_rows"].passed and checks["freshness"].passed
    assert checks["drift"].passed and checks["drift"].metadata["checked"].value == ROWS - len(INVALID)


def test_a_dry_run_shows_the_plan_in_the_run_and_writes_nothing(harness):
    harness.run({SCOPE_TAG: "changes"})
    harness.set_row(1, name="Planned Rename", updated_at=dt.datetime.now(dt.timezone.utc))
    before = MappingStore(harness.engine).events("customers", "stripe")
    config = {"ops": {"stripe__customers": {"config": {"dry_run": True}}}}
    result = harness.defs.resolve_job_def("sync_customers_stripe").execute_in_process(
        instance=harness.instance, run_config=config)
    assert result.success and not result.get_asset_materialization_events()  # nothing synced, nothing claimed
    assert not result.get_asset_check_evaluations()
    [observation] = [e.event_specific_data.asset_observation for e in result.all_events
                     if e.event_type_value == "ASSET_OBSERVATION"]
    metadata = {k: v.value for k, v in observation.metadata.items()}
    assert metadata["dry_run"] is True and metadata["would_update"] == 1 and metadata["would_create"] == 0
    old_name = harness.remote()["1"].name  # the dry run reads the object as Stripe holds it now
    assert f"| 1 | customer | update | name | {old_name} | Planned Rename |" in metadata["sample_diffs"]
    assert "| 7 | customer | invalid |" in metadata["rejected"]
    assert MappingStore(harness.engine).events("customers", "stripe") == before
    assert harness.remote()["1"].name != "Planned Rename"


def test_the_whole_catalog_job_syncs_every_row_without_a_partition_and_records_on_the_asset(harness):
    job = harness.defs.resolve_job_def("sync_customers_stripe_all")
    assert job.partitions_def is None  # the launchpad asks for nothing
    result = job.execute_in_process(instance=harness.instance)
    assert result.success
    assert set(harness.remote()) == {str(i) for i in range(1, ROWS + 1)} - INVALID
    months = by_month(result)
    assert months[None]["created"] == ROWS - len(INVALID)
    assert sum(m["created"] for p, m in months.items() if p) == ROWS - len(INVALID)
    assert harness.instance.get_latest_materialization_event(KEY).run_id == result.run_id
    dry = job.execute_in_process(instance=harness.instance, run_config={
        "ops": {"stripe__customers__all": {"config": {"dry_run": True}}}})
    assert dry.success and not dry.get_asset_materialization_events()
