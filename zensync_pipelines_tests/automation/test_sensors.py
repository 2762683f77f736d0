"""The change sensor on PostgreSQL: cursor, overlap window, late commits, idle ticks, run keys, in-flight runs."""

import datetime as dt
import json

import pytest
from dagster import DagsterRunStatus, Definitions
from sqlalchemy import event, text, update

from zensync_pipelines.dagster_defs.scope import CHANGED_SINCE_TAG, RANGE_END, RANGE_START, SCOPE_TAG
from zensync_pipelines.dagster_defs.sensors import ChangeCursor, load_cursors
from zensync_pipelines.dagster_defs.settings import AutomationSettings
from zensync_pipelines.demo.tables import customers
from zensync_pipelines.store.changes import decode

from .harness import JOB, Harness

SENSOR = "customers_changes"  # one sensor per catalog; the harness syncs it to Stripe only


SETTINGS = AutomationSettings(sensor_overlap_seconds=300)
ROWS = 30


def stripe_cursor(text: str) -> ChangeCursor:
    return load_cursors(text)["stripe"]


@pytest.fixture
def harness(postgres_url, stripe_sandbox_url, tmp_path):
    harness = Harness(postgres_url, stripe_sandbox_url, ROWS, SETTINGS, str(tmp_path / "dagster"))
    yield harness
    harness.engine.dispose()


def test_a_late_commit_with_an_older_timestamp_is_synced_by_the_next_tick(harness):
    base = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    harness.spread_updates(base - dt.timedelta(days=1), ROWS)

    first = harness.tick(SENSOR)
    [request] = first.run_requests
    assert request.tags[SCOPE_TAG] == "changes" and CHANGED_SINCE_TAG not in request.tags  # first tick: every row
    # A whole-catalog run names no partition: it materializes only the months whose rows it touched.
    assert request.partition_key is None and RANGE_START not in request.tags and RANGE_END not in request.tags
    cursor = stripe_cursor(first.cursor)
    assert (cursor.value, cursor.key) == (base - dt.timedelta(days=1, seconds=600), 1)
    # The tick that saw the table change records the catalog asset's materialization with its row counts.
    [seen] = first.asset_events
    assert seen.asset_key.path == ["catalog", "customers"]
    assert (seen.metadata["rows"].value, seen.metadata["live_rows"].value) == (ROWS, ROWS)
    _, metadata = harness.run(request.tags)
    assert metadata["created"] == ROWS - 2 and metadata["failed"] == 2  # ids 7 and 23 are invalid on purpose

    idle = harness.tick(SENSOR, first.cursor)
    assert not idle.run_requests and idle.skip_message and (idle.cursor or first.cursor) == first.cursor
    assert not idle.asset_events  # an idle tick reads no more than its window

    late = harness.engine.connect()
    transaction = late.begin()  # a writer that stamped its row a minute ago and commits after the cursor moved
    late.execute(update(customers).where(customers.c.id == 5)
                 .values(phone="+15550000005", updated_at=base - dt.timedelta(seconds=60)))
    harness.set_row(6, phone="+15550000006", updated_at=base)

    moved = harness.tick(SENSOR, first.cursor)
    [request] = moved.run_requests
    assert decode(request.tags[CHANGED_SINCE_TAG]) == cursor.value - dt.timedelta(seconds=300)
    assert (stripe_cursor(moved.cursor).value, stripe_cursor(moved.cursor).key) == (base, 6)
    _, metadata = harness.run(request.tags)
    # Only the changed row and the one inside the overlap window were read: not the whole catalog.
    assert (metadata["updated"], metadata["skipped"], metadata["api_calls"]) == (1, 1, 1)

    transaction.commit()
    late.close()
    caught = harness.tick(SENSOR, moved.cursor)
    [request] = caught.run_requests
    assert decode(request.tags[CHANGED_SINCE_TAG]) == base - dt.timedelta(seconds=300)
    assert stripe_cursor(caught.cursor).value == base  # the newest position did not move, the window did
    _, metadata = harness.run(request.tags)
    assert (metadata["updated"], metadata["skipped"], metadata["api_calls"]) == (1, 1, 1)
    remote = harness.remote()
    assert (remote["5"].phone, remote["6"].phone) == ("+15550000005", "+15550000006")

    assert not harness.tick(SENSOR, caught.cursor).run_requests


def test_an_idle_tick_is_one_query_on_the_updated_at_index(harness):
    base = dt.datetime.now(dt.timezone.utc)
    harness.spread_updates(base, ROWS)
    cursor = harness.tick(SENSOR).cursor
    engine = harness.resources["catalog_db"].engine()
    harness.tick(SENSOR, cursor)  # warm: the feed reflects the table once per code server
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        assert not harness.tick(SENSOR, cursor).run_requests
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert len(statements) == 1 and "ORDER BY" in statements[0]
    with harness.engine.begin() as connection:  # enough rows that the planner's choice means something
        connection.execute(text("INSERT INTO customers (id, name, created_at, updated_at) SELECT g, 'n', "
                                "now() - interval '2 days', now() - g * interval '1 minute' "
                                "FROM generate_series(1000, 21000) g"))
        connection.execute(text("ANALYZE customers"))
        plan = "\n".join(connection.exec_driver_sql(f"EXPLAIN {statements[0]}",
                                                   {"updated_at_1": base - dt.timedelta(minutes=5)}).scalars())
    assert "ix_customers_updated_at_id" in plan, plan


def test_a_change_storm_waits_for_the_running_sensor_run_and_run_keys_repeat(harness):
    base = dt.datetime.now(dt.timezone.utc)
    harness.spread_updates(base - dt.timedelta(hours=1), ROWS)
    first = harness.tick(SENSOR)
    for row_id in range(1, ROWS + 1):  # a storm: every row changes between two ticks
        harness.set_row(row_id, updated_at=base + dt.timedelta(milliseconds=row_id))
    storm = harness.tick(SENSOR, first.cursor)
    assert len(storm.run_requests) == 1  # one run for every changed row
    again = harness.tick(SENSOR, first.cursor)  # the same tick retried (e.g. the daemon died before saving)
    assert again.run_requests[0].run_key == storm.run_requests[0].run_key

    job = harness.defs.resolve_job_def(JOB)
    running = harness.instance.create_run_for_job(job, tags={"dagster/sensor_name": SENSOR},
                                                 status=DagsterRunStatus.STARTED)
    waiting = harness.tick(SENSOR, first.cursor)
    assert not waiting.run_requests and "still queued or running" in waiting.skip_message
    assert waiting.cursor in (None, first.cursor)  # not moved: the next tick asks for all of it
    harness.instance.report_run_canceled(running)
    assert len(harness.tick(SENSOR, first.cursor).run_requests) == 1


def test_cursor_survives_a_round_trip_through_text():
    stamp = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc)
    cursor = ChangeCursor(stamp, 42, stamp - dt.timedelta(minutes=5), "abc")
    assert ChangeCursor.loads(cursor.dumps()) == cursor
    assert json.loads(cursor.dumps())["key"] == "42"


def test_rows_stamped_in_the_future_do_not_hide_changes_made_now(harness):
    now = dt.datetime.now(dt.timezone.utc)
    harness.spread_updates(now - dt.timedelta(hours=1), ROWS)
    harness.set_row(3, updated_at=now + dt.timedelta(days=30))  # a writer whose clock runs a month ahead
    first = harness.tick(SENSOR)
    assert stripe_cursor(first.cursor).value == now + dt.timedelta(days=30)
    assert not harness.tick(SENSOR, first.cursor).run_requests  # idle stays idle: the window does not slide

    harness.set_row(4, phone="+15550000004", updated_at=dt.datetime.now(dt.timezone.utc))
    [request] = harness.tick(SENSOR, first.cursor).run_requests
    assert decode(request.tags[CHANGED_SINCE_TAG]) <= now


def test_idle_ticks_as_the_code_server_runs_them_create_no_dagster_instance(harness, monkeypatch):
    """The code server evaluates a tick with the daemon's instance ref; building a sensor's required resources
    would create a DagsterInstance from it on every tick (~35 ms of CPU on the embedded storage). The change and
    inbox sensors read the catalog through tick_database, so an idle tick creates none; a tick that finds a change,
    and every retry tick, reaches the instance (a run in flight? a failed run?) through tick_instance: one
    instance per process, built by the first tick that needs it."""
    from dagster import DagsterInstance
    from dagster._grpc.impl import get_external_sensor_execution

    repository = harness.defs.get_repository_def()
    created = []
    real = DagsterInstance.from_ref
    monkeypatch.setattr(DagsterInstance, "from_ref", staticmethod(lambda ref: created.append(ref) or real(ref)))

    def tick(name, cursor=None):
        result = get_external_sensor_execution(repository, None, harness.instance.get_ref(), name, None, None,
                                               cursor, None, None)
        assert not hasattr(result, "error"), result
        return result

    cursor = tick(SENSOR).cursor
    assert len(created) == 1  # the first tick found rows to sync and looked for a run in flight
    created.clear()
    assert not tick(SENSOR, cursor).run_requests and not tick("customers_stripe_inbox").run_requests
    harness.set_row(3, name="changed", updated_at=dt.datetime.now(dt.timezone.utc))
    assert len(tick(SENSOR, cursor).run_requests) == 1
    tick("customers_stripe_retries")  # looks at the runs on every tick
    assert created == []  # the instance the first tick built serves them all


def test_one_sensor_per_catalog_keeps_a_cursor_per_system_and_one_query_while_they_agree(sqlite_url, tmp_path,
                                                                                        monkeypatch):
    from zensync_pipelines.catalogs import load_specs
    from zensync_pipelines.dagster_defs.factory import build_catalog_definitions, job_name
    from zensync_pipelines.dagster_defs.resources import CatalogDatabase, default_resources

    spec = {s.name: s for s in load_specs()}["customers"]
    monkeypatch.setenv("STRIPE_API_KEY", "sk_test_unused")  # the resources are built, never called
    harness = Harness(sqlite_url, "http://127.0.0.1:9", 10, SETTINGS, str(tmp_path / "dagster"))
    resources = default_resources(catalog_db=CatalogDatabase(url=sqlite_url))
    harness.resources = resources
    harness.defs = Definitions.merge(build_catalog_definitions(spec, SETTINGS), Definitions(resources=resources))
    first = harness.tick(SENSOR)
    assert {r.job_name for r in first.run_requests} == {job_name(spec, s) for s in ("stripe", "salesforce")}
    assert set(load_cursors(first.cursor)) == {"stripe", "salesforce"}

    engine = resources["catalog_db"].engine()
    harness.tick(SENSOR, first.cursor)  # warm: the feed reflects the table once
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        assert not harness.tick(SENSOR, first.cursor).run_requests
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    assert len(statements) == 1  # both systems' cursors agree: one window query serves both

    # Stripe's run is still going when a row changes: Salesforce's run starts, Stripe's cursor stays put.
    running = harness.instance.create_run_for_job(harness.defs.resolve_job_def(job_name(spec, "stripe")),
                                                 tags={"dagster/sensor_name": SENSOR},
                                                 status=DagsterRunStatus.STARTED)
    harness.set_row(4, name="changed", updated_at=dt.datetime.now(dt.timezone.utc))
    moved = harness.tick(SENSOR, first.cursor)
    assert [r.job_name for r in moved.run_requests] == [job_name(spec, "salesforce")]
    cursors = load_cursors(moved.cursor)
    assert cursors["stripe"] == load_cursors(first.cursor)["stripe"] and cursors["salesforce"].key == 4
    harness.instance.report_run_canceled(running)
    [caught_up] = harness.tick(SENSOR, moved.cursor).run_requests  # Stripe now asks for what it missed
    assert caught_up.job_name == job_name(spec, "stripe")
    harness.engine.dispose()
