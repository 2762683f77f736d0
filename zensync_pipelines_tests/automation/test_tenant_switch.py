"""The change sensor of a shipped catalog (it declares `tenant_id`) with no tenant registered ticks as before
tenants; once a tenant is active it ticks for every tenant, carrying its cursor over, and back when none is."""

import datetime as dt
import json

import pytest

from zensync_pipelines.dagster_defs import sensors
from zensync_pipelines.dagster_defs.scope import CHANGED_SINCE_TAG, TENANT_TAG
from zensync_pipelines.dagster_defs.sensors import load_cursors
from zensync_pipelines.dagster_defs.settings import AutomationSettings
from zensync_pipelines.demo.seed import seed_customers
from zensync_pipelines.store.changes import decode
from zensync_pipelines.store.tenant_fields import Tenant
from zensync_pipelines.store.tenants import TenantStore

from .harness import SPEC, Harness

SENSOR = "customers_changes"
ROWS = 5


@pytest.fixture
def harness(sqlite_url, stripe_sandbox_url, tmp_path):
    harness = Harness(sqlite_url, stripe_sandbox_url, ROWS, AutomationSettings(sensor_overlap_seconds=300),
                      str(tmp_path / "dagster"))
    yield harness
    harness.engine.dispose()


def test_the_sensor_switches_to_tenants_when_one_is_active_and_back_when_none_is(harness):
    assert SPEC.tenant_column == "tenant_id"  # the shipped spec: the harness's catalog has the column
    first = harness.tick(SENSOR)
    [default_run] = first.run_requests
    assert TENANT_TAG not in default_run.tags and default_run.run_key.startswith("stripe-changes-")
    assert set(load_cursors(first.cursor)) == {"stripe"}  # today's cursor: one ChangeCursor per system

    # t1 registered with rows written now: they are in the window, so the registry is read at once.
    TenantStore(harness.engine).add(Tenant("t1", stripe_account="acct_t1"))
    seed_customers(harness.engine, 3, tenant="t1", first_id=1001, stamp=dt.datetime.now(dt.timezone.utc))
    switched = harness.tick(SENSOR, first.cursor)
    runs = {r.tags.get(TENANT_TAG): r for r in switched.run_requests}
    assert set(runs) == {"t1", None}
    assert CHANGED_SINCE_TAG not in runs["t1"].tags  # t1 is new to the sensor: all its rows
    old_floor = load_cursors(first.cursor)["stripe"].floor
    assert decode(runs[None].tags[CHANGED_SINCE_TAG]) == old_floor  # the default's window, read once more
    assert json.loads(switched.cursor)["tenants"] is True
    assert not harness.tick(SENSOR, switched.cursor).run_requests  # idle for every tenant

    # The last tenant disabled: the default tenant's own cursor again, read once from the shared window.
    TenantStore(harness.engine).disable("t1")
    back = harness.tick(SENSOR, switched.cursor)
    assert [r.tags.get(TENANT_TAG) for r in back.run_requests] == [None]
    assert set(load_cursors(back.cursor)) == {"stripe"}
    assert not harness.tick(SENSOR, back.cursor).run_requests


def test_a_tenant_registered_with_old_rows_is_found_by_the_registry_check(harness, monkeypatch):
    first = harness.tick(SENSOR)
    long_ago = dt.datetime(2020, 1, 1, tzinfo=dt.timezone.utc)  # older than every demo row: below the window
    seed_customers(harness.engine, 2, tenant="t2", first_id=2001, stamp=long_ago)
    TenantStore(harness.engine).add(Tenant("t2", stripe_account="acct_t2"))
    assert not harness.tick(SENSOR, first.cursor).run_requests  # the registry was read a moment ago
    monkeypatch.setattr(sensors, "REGISTRY_SECONDS", 0.0)  # ... once a minute: the minute has passed
    runs = {r.tags.get(TENANT_TAG): r for r in harness.tick(SENSOR, first.cursor).run_requests}
    assert set(runs) == {"t2", None} and CHANGED_SINCE_TAG not in runs["t2"].tags  # None: the switch's re-read
