"""One sensor per catalog: a run per system whenever catalog rows changed, reading only the changed rows.

The cursor is the newest (cursor column value, primary key) seen, plus a digest of every position inside the
overlap window below it. An idle tick lists that window (one index range scan) and finds the same digest. A row
committed late with an older value inside the window, or a row re-stamped inside it, changes the digest even
though the newest position did not move, so it is picked up; the run re-reads the whole window, and the
fingerprint turns rows it already synced into skips without an API call.
"""

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any, Optional

from dagster import (AssetMaterialization, DagsterInstance, RunRequest, RunsFilter,
                     SensorDefinition, SensorEvaluationContext, SensorResult, SkipReason, sensor)

from ..engine.spec import CatalogSpec
from ..store.changes import ChangeFeed, Position, minus, not_after_now, order
from ..store.tables import DEFAULT_TENANT
from ..store.wake_triggers import catalog_tables
from .change_cursor import IN_FLIGHT, ChangeCursor, sensor_name, window_digest
from .external import catalog_key, catalog_metadata
from .resources import tick_database, tick_instance
from .scope import CHANGES, TENANT_TAG, whole_catalog_tags
from .settings import AutomationSettings
from .waking import waiting_tick

@dataclass(frozen=True)
class Changes:
    cursor: ChangeCursor
    changed_since: Any  # None: every row (the first tick knows of no earlier sync)

    def run_key(self, previous: Optional[ChangeCursor]) -> str:
        # One key per cursor transition: a tick retried after a crash asks for the same run, which Dagster drops.
        material = (previous.dumps() if previous else "") + "->" + self.cursor.dumps()
        return "changes-" + hashlib.sha256(material.encode()).hexdigest()[:32]


def detect_changes(feed: ChangeFeed, spec: CatalogSpec, previous: Optional[ChangeCursor],
                   overlap_seconds: float) -> Optional[Changes]:
    """The tick's decision: None when nothing changed (one query), else the new cursor and the run's floor."""
    if previous is None:
        newest = feed.newest(spec)
        if newest is None:
            return None
        floor = minus(not_after_now(newest[0]), overlap_seconds)
        window = feed.window(spec, floor)
        return Changes(ChangeCursor(newest[0], newest[1], floor, window_digest(window)), None)
    positions = feed.window(spec, previous.floor)
    if window_digest(positions) == previous.window:
        return None
    newest = max(positions[-1], (previous.value, previous.key), key=order) if positions else \
        (previous.value, previous.key)
    floor = max(previous.floor, minus(not_after_now(newest[0]), overlap_seconds))
    window = [p for p in positions if p[0] >= floor]
    return Changes(ChangeCursor(newest[0], newest[1], floor, window_digest(window)), previous.floor)


def sensor_run_in_flight(instance: DagsterInstance, name: str, job_name: Optional[str] = None) -> bool:
    """A run of sensor `name` (of its job `job_name`, for a sensor that starts several jobs) queued or running."""
    records = instance.get_run_records(RunsFilter(tags={"dagster/sensor_name": name}, statuses=IN_FLIGHT,
                                                  job_name=job_name), limit=1)
    return bool(records)


def busy_tenants(instance: DagsterInstance, name: str) -> set[str]:
    """The tenants with a run of sensor `name` queued or in progress: one query for all of them."""
    records = instance.get_run_records(RunsFilter(tags={"dagster/sensor_name": name}, statuses=IN_FLIGHT))
    return {r.dagster_run.tags.get(TENANT_TAG, DEFAULT_TENANT) for r in records}


def load_cursors(text: Optional[str]) -> dict[str, ChangeCursor]:
    """The sensor's cursor: one ChangeCursor per system, as JSON {system: cursor}."""
    return {system: ChangeCursor.loads(cursor) for system, cursor in json.loads(text).items()} if text else {}


# A deployment without active tenants reads the registry at least this often (seconds), so a tenant registered
# with rows older than the overlap window gets its first run within this time; a tenant whose rows change is seen
# at the next tick.
REGISTRY_SECONDS = 60.0


class DefaultTenantFeed:
    """The default tenant's positions in a catalog with a tenant column, read with the single-tenant sensor's one
    query per table: the floor its only parameter, the tenant column read beside each position rather than tested,
    so a deployment without registered tenants ticks on the same index scan as before tenants. Other tenants'
    positions in the window are noted (`others`): the sensor then asks the registry whether they are registered."""

    def __init__(self, feed: ChangeFeed):
        self.feed, self.others = feed, set()

    def window(self, spec: CatalogSpec, floor: Any) -> list[Position]:
        by_tenant = self.feed.window_by_tenant(spec, floor)
        self.others |= set(by_tenant) - {DEFAULT_TENANT}
        return by_tenant.get(DEFAULT_TENANT, [])

    def newest(self, spec: CatalogSpec) -> Optional[Position]:
        return self.feed.newest(spec)  # the feed's tables are the default tenant's: its rows only


def single_tick(context: SensorEvaluationContext, spec: CatalogSpec, jobs: dict[str, Any], feed: Any,
                cursors: dict[str, ChangeCursor], settings: AutomationSettings) -> SensorResult | SkipReason:
    """The default tenant's tick: a run per system with changes, keyed, tagged and cursored as before tenants."""
    name = sensor_name(spec)
    found: dict[str, Optional[Changes]] = {}  # by the previous cursor's text: systems that agree share a query
    requests, moved = [], dict(cursors)
    for system, job in jobs.items():
        previous = cursors.get(system)
        key = previous.dumps() if previous else ""
        if key not in found:
            found[key] = detect_changes(feed, spec, previous, settings.sensor_overlap_seconds)
        changes = found[key]
        # The cursor stays put while this system's run is in flight, so the next tick after it finishes asks
        # for all these changes at once: a change storm becomes one run at a time, never a queue of them.
        if changes is None or sensor_run_in_flight(tick_instance(context), name, job.name):
            continue
        moved[system] = changes.cursor
        requests.append(RunRequest(run_key=f"{system}-{changes.run_key(previous)}", job_name=job.name,
                                   tags=whole_catalog_tags(spec, CHANGES, changes.changed_since)))
    if not requests:
        return SkipReason(f"no {spec.name} row changed" if not any(found.values())
                          else "the previous runs of this sensor are still queued or running")
    database = tick_database(context)
    seen = AssetMaterialization(catalog_key(spec), description=f"{spec.table} changed (seen by {name})",
                                metadata=catalog_metadata(database.catalog(), spec))
    return SensorResult(run_requests=requests, asset_events=[seen],
                        cursor=json.dumps({system: cursor.dumps() for system, cursor in moved.items()}))


def build_change_sensor(spec: CatalogSpec, jobs: dict[str, Any], settings: AutomationSettings) -> SensorDefinition:
    """One sensor per catalog for all its systems (`jobs`: system -> its sync job): each tick costs the daemon
    ~40 ms of CPU on the embedded storage, whatever the tick does, so one tick reads the table for every system.
    Each system keeps its own cursor: a system whose run is still in flight keeps its cursor put while another
    moves on. While the systems' cursors agree (the idle case), one query serves them all.

    A catalog with a tenant column has one sensor too, with two ways to tick. While no tenant is registered and
    active, it ticks as above for the default tenant (same query, cursor, run keys and tags as before tenants),
    and reads the registry only when another tenant's row shows up in the window, or once a REGISTRY_SECONDS
    otherwise (a tenant registered with rows older than the window). Once tenants are active, one tick serves
    them all (dagster_defs/tenant_sensors.py), the default tenant as one of them; the cursor is carried over each
    way, so neither switch loses a change (the switch's tick asks for one run per system of the default tenant
    over its overlap window, which the fingerprints turn into skips).

    A tick that sees the table change also records a materialization of the catalog asset with its row counts
    (the table changes outside Dagster; this is where Dagster first learns of it)."""
    from . import tenant_sensors  # it builds on this module's cursor and names

    name = sensor_name(spec)
    # Kept across ticks (the code server lives on), so a tick never pays for reflecting the table again.
    feeds: dict[str, ChangeFeed] = {}
    registry_read: dict[str, float] = {}  # database url -> when the registry was last found without active tenants
    tables = catalog_tables([spec])  # whose writes wake an idle tick
    systems = ", ".join(jobs)

    @sensor(name=name, jobs=list(jobs.values()), minimum_interval_seconds=settings.sensor_interval_seconds,
            default_status=settings.sensor_status,
            description=f"Syncs {spec.name} rows to {systems} when their {spec.cursor_column} changes"
                        + (", in a run per tenant and system." if spec.tenant_column else "."))
    def _changes(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        # An idle tick waits for the next write to the database and looks again (waking.py).
        return waiting_tick(context, name, settings.sensor_wait_seconds, lambda: _tick(context), tables)

    def _tick(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        database = tick_database(context)
        feed = feeds.get(database.url) or feeds.setdefault(database.url, ChangeFeed(database.catalog()))
        if not spec.tenant_column:
            return single_tick(context, spec, jobs, feed, load_cursors(context.cursor), settings)
        if tenant_sensors.TenantCursor.loads(context.cursor) is not None:
            result = tenant_sensors.tenant_tick(context, spec, jobs, feed, settings.sensor_overlap_seconds)
            if result is not None:
                return result
            # No tenant is active any more: the default tenant's cursor again, from the shared window.
            cursors = tenant_sensors.to_single(tenant_sensors.TenantCursor.loads(context.cursor), jobs)
            registry_read[database.url] = time.monotonic()
            return single_tick(context, spec, jobs, DefaultTenantFeed(feed), cursors, settings)
        cursors = load_cursors(context.cursor)
        default = DefaultTenantFeed(feed)
        result = single_tick(context, spec, jobs, default, cursors, settings)
        now = time.monotonic()
        if not default.others and now - registry_read.get(database.url, -REGISTRY_SECONDS) < REGISTRY_SECONDS:
            return result
        if not tenant_sensors.any_active(feed.tables.engine):
            registry_read[database.url] = now
            return result
        # Tenants are active: this tick is theirs (the default tenant's result above is dropped with its cursor).
        previous = tenant_sensors.from_single(cursors, jobs)
        return tenant_sensors.tenant_tick(context, spec, jobs, feed, settings.sensor_overlap_seconds, previous)

    return _changes
