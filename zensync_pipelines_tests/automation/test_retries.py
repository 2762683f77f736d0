"""Transient failures heal by themselves: the retry sensor asks for a run over the due rows, by id; an outage
fails the run (red) with one reason; a spent budget keeps the sensor quiet."""

import datetime as dt
import logging

import pytest
from dagster import DefaultSensorStatus, Definitions, SkipReason
from sqlalchemy import update

from zensync_pipelines.dagster_defs.factory import build_catalog_definitions
from zensync_pipelines.dagster_defs.retries import retry_sensor_name
from zensync_pipelines.dagster_defs.scope import IDS_TAG, SCOPE_TAG
from zensync_pipelines.dagster_defs.settings import AutomationSettings
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines.store.state import StateStore
from zensync_pipelines.store.tables import mappings

from zensync_pipelines.systems.stripe import StripeResource

from .harness import API_KEY, JOB, SPEC, Harness

SENSOR = retry_sensor_name(SPEC, "stripe")
ROWS = 60
INVALID = {"7", "23", "41", "57"}


@pytest.fixture
def harness(sqlite_url, stripe_sandbox, tmp_path):
    harness = Harness(sqlite_url, stripe_sandbox.url, ROWS, AutomationSettings(), str(tmp_path / "dagster"))
    harness.sandbox = stripe_sandbox
    yield harness
    harness.engine.dispose()


@pytest.fixture
def faulty_harness(sqlite_url, stripe_sandbox, tmp_path):
    """Without the SDK's own retries, a 500 reaches the adapter at once: with a quarter of requests failing, a
    row fails when its create and the create under a new key both meet one, about one row in eight, so a run of
    56 valid rows leaves failed rows all but always (with the SDK's two retries it left none about once in 30)."""
    harness = Harness(sqlite_url, stripe_sandbox.url, ROWS, AutomationSettings(), str(tmp_path / "dagster"),
                      max_network_retries=0)
    harness.sandbox = stripe_sandbox
    yield harness
    harness.engine.dispose()


def make_due(harness):
    with harness.engine.begin() as connection:
        connection.execute(update(mappings).where(mappings.c.next_retry_at.is_not(None))
                           .values(next_retry_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1)))


def test_transient_failures_are_retried_by_the_sensor_until_every_row_is_synced(faulty_harness):
    harness = faulty_harness
    harness.sandbox.configure(fault_rate=0.25, fault_kinds=["api_error"], seed=3)
    harness.run({SCOPE_TAG: "changes"})
    store = MappingStore(harness.engine)
    failed = {r["internal_id"] for r in store.rows("customers", "stripe", status="failed")}
    assert failed and not failed & INVALID
    result = harness.tick(SENSOR)
    assert not result.run_requests and "no customers row is due" in result.skip_message  # backoff: minutes

    make_due(harness)
    harness.sandbox.configure(fault_rate=0.0)
    [request] = harness.tick(SENSOR).run_requests
    assert request.tags[SCOPE_TAG] == "retry" and set(request.tags[IDS_TAG].split(",")) == failed
    _, metadata = harness.run(request.tags)
    assert metadata["created"] == len(failed) and metadata["failed"] == 0  # the invalid rows are not read
    assert metadata["scope"].startswith(f"{len(failed)} rows due for a retry (")
    assert set(metadata["scope"].split("(")[1].rstrip(")").split(", ")) == failed
    assert not harness.tick(SENSOR).run_requests  # quiet: nothing left to retry
    assert set(harness.remote()) == {str(i) for i in range(1, ROWS + 1)} - INVALID


def test_the_wait_grows_with_attempts_and_is_capped(harness):
    harness.sandbox.configure(fault_rate=1.0, fault_kinds=["api_error"])
    waits = []
    for attempt in range(8):  # one row: 6 failed requests a run, under the breaker's threshold
        harness.run({SCOPE_TAG: "retry", IDS_TAG: "1"})
        [row] = MappingStore(harness.engine).rows("customers", "stripe", internal_id="1")
        waits.append(round((row["next_retry_at"].replace(tzinfo=dt.timezone.utc) - row["updated_at"].replace(
            tzinfo=dt.timezone.utc)).total_seconds() / 60))
        assert row["attempts"] == attempt + 1 and row["failure_kind"] == "transient"
    assert waits == [1, 2, 4, 8, 16, 32, 60, 60]


def test_rows_left_pending_by_a_dead_run_are_picked_up(harness):
    harness.run({SCOPE_TAG: "changes"})
    with harness.engine.begin() as connection:  # a run killed between intents and outcomes, a while ago
        connection.execute(update(mappings).where(mappings.c.internal_id.in_(["1", "2"])).values(
            status="pending", updated_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)))
    [request] = harness.tick(SENSOR).run_requests
    assert request.tags[IDS_TAG] == "1,2"


def test_a_spent_budget_keeps_the_retry_sensor_quiet(harness):
    harness.sandbox.configure(fault_rate=1.0, fault_kinds=["api_error"])
    harness.run({SCOPE_TAG: "retry", IDS_TAG: "1"})
    make_due(harness)
    resumes = dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=3)
    StateStore(harness.engine).put("stripe", "api_usage", {"used": 10, "limit": 10, "observed_at": "x",
                                                           "resumes_at": resumes.isoformat()})
    result = harness.tick(SENSOR)
    assert not result.run_requests and "budget is spent" in result.skip_message


def test_the_retry_sensor_is_on_whenever_the_change_sensors_are():
    for running in (True, False):
        defs = build_catalog_definitions(SPEC, AutomationSettings(sensors_running=running))
        statuses = {s.name: s.default_status for s in defs.sensors}
        assert statuses[SENSOR] == statuses["customers_changes"] == (
            DefaultSensorStatus.RUNNING if running else DefaultSensorStatus.STOPPED)


def test_an_unreachable_stripe_fails_the_run_with_one_reason(harness):
    from zensync_pipelines_tests.conftest import free_port

    closed = StripeResource(api_key=API_KEY, api_base=f"http://127.0.0.1:{free_port()}", rate_limit_per_second=20)
    defs = Definitions.merge(build_catalog_definitions(SPEC, AutomationSettings()),
                             Definitions(resources=harness.resources | {"stripe": closed}))
    result = defs.resolve_job_def(JOB).execute_in_process(instance=harness.instance, raise_on_error=False)
    assert not result.success  # red in the UI
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    info = failure.step_failure_data.user_failure_data
    assert info.description.startswith("Stripe unavailable: 10 consecutive calls failed")
    assert info.metadata["outage"].value == info.description and info.metadata["api_calls"].value < 60
    errors = [e for e in harness.instance.all_logs(result.run_id) if e.level == logging.ERROR]
    assert info.description in errors[0].user_message  # the first error of the run says it, in one line
    assert "\n" not in info.description and "127.0.0.1" in info.description
    statuses = MappingStore(harness.engine).status_counts("customers", "stripe")
    assert statuses["pending"] >= 30 and statuses.get("failed", 0) <= 12  # untouched rows are not "failed"


def test_data_errors_keep_the_run_green(harness):
    _, metadata = harness.run({SCOPE_TAG: "changes"})
    assert metadata["failed"] == len(INVALID) and "outage" not in metadata
    assert isinstance(harness.tick(SENSOR), SkipReason) or not harness.tick(SENSOR).run_requests


def test_a_failed_change_run_is_run_again_with_backoff(harness):
    from zensync_pipelines_tests.conftest import free_port

    closed = StripeResource(api_key=API_KEY, api_base=f"http://127.0.0.1:{free_port()}", rate_limit_per_second=20)
    defs = Definitions.merge(build_catalog_definitions(SPEC, AutomationSettings()),
                             Definitions(resources=harness.resources | {"stripe": closed}))
    tags = {SCOPE_TAG: "changes"}
    failed = defs.resolve_job_def(JOB).execute_in_process(instance=harness.instance, tags=tags,
                                                          raise_on_error=False)
    assert not failed.success
    assert not harness.tick(SENSOR).run_requests  # a minute's wait first
    record = harness.instance.get_run_record_by_id(failed.run_id)
    with harness.instance.run_storage.connect() as connection:  # the run ended two minutes ago
        from dagster._core.storage.runs.schema import RunsTable

        connection.execute(RunsTable.update().where(RunsTable.c.run_id == failed.run_id).values(
            end_time=record.end_time - 120))
    [request] = harness.tick(SENSOR).run_requests
    assert request.run_key == f"rerun-{failed.run_id}" and request.tags[SCOPE_TAG] == "changes"
    assert request.tags["zensync/rerun_depth"] == "1"
    _, metadata = harness.run(request.tags)  # Stripe is back: the rerun syncs what the failed run never reached
    assert metadata["created"] == ROWS - len(INVALID)
    assert not harness.tick(SENSOR).run_requests
