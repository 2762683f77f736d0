"""The change sensor of a catalog with a tenant column: one tick for every tenant, one run per tenant and system.

The tick reads the overlap window once for all tenants (one index range scan per table, the tenant column beside
each position) and keeps a digest per tenant of its positions in the window. A tenant whose digest moved has
changes; the others cost nothing more. The floor, the newest position and the overlap are the single-tenant sensor's
(dagster_defs/sensors.py), shared by all tenants, so an idle tick is the same window query at any number of tenants,
plus one aggregate on the registry. A changed tenant gets one run per system, tagged with its tenant, copy and lane,
if it is registered and active (one registry query for the changed tenants only); another tenant's rows are skipped
with one log line per tick. A (tenant, system) whose copy has a run in progress is held, with the floor its run must
read from, and asked again at the next tick: one tenant's busy copy never holds back another's. A tenant added or
enabled since the last tick gets a run over all its rows (one aggregate on the registry per tick tells).

The sensor itself is the catalog's one change sensor (sensors.build_change_sensor): it ticks here while tenants
are active, and for the default tenant alone, exactly as before tenants, while none is.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Optional

from dagster import (AssetMaterialization, RunRequest, RunsFilter, SensorEvaluationContext, SensorResult,
                     SkipReason)

from ..engine.spec import CatalogSpec
from ..store.changes import ChangeFeed, Position, decode, encode, minus, not_after_now, order
from ..store.tables import DEFAULT_TENANT
from ..store.tenant_fields import ACTIVE
from ..store.tenants import TenantStore
from .external import catalog_key, catalog_metadata
from .resources import tick_instance
from .scope import CHANGES, COPY_TAG, copy_tags, tenant_tags, whole_catalog_tags
from .change_cursor import IN_FLIGHT, ChangeCursor, sensor_name
from .tenant_systems import lane_tags

EVERY_ROW = None  # a held run's floor when it is a first run: every row of its tenant


@dataclass
class TenantCursor:
    window: ChangeCursor  # shared by all tenants; its `window` digest is unused (the digests are per tenant)
    digests: dict[str, str]  # tenant -> digest of its positions at or after window.floor
    held: dict[str, dict[str, Any]] = field(default_factory=dict)  # tenant -> system -> the floor its run reads
    registry: list[Any] = field(default_factory=list)  # TenantStore.active_signature() when `known` was read
    known: list[str] = field(default_factory=list)  # the active tenants then

    def dumps(self) -> str:
        held = {t: {s: None if v is EVERY_ROW else encode(v) for s, v in systems.items()}
                for t, systems in self.held.items()}
        return json.dumps({"tenants": True, "window": self.window.dumps(), "digests": self.digests, "held": held,
                           "registry": self.registry, "known": self.known})

    @classmethod
    def loads(cls, text: Optional[str]) -> Optional["TenantCursor"]:
        data = json.loads(text) if text else {}
        if not data.get("tenants"):  # none yet, or a cursor from before the spec named a tenant column
            return None
        held = {t: {s: EVERY_ROW if v is None else decode(v) for s, v in systems.items()}
                for t, systems in data["held"].items()}
        return cls(ChangeCursor.loads(data["window"]), data["digests"], held, data["registry"], data["known"])


def digest(positions: list[Position]) -> str:
    """sensors.window_digest's role, with str() for encode(): the values of one column compare as text alike,
    and an idle tick hashes every position in the window, thousands at many tenants (3x faster)."""
    material = "\n".join(f"{value} {key}" for value, key in positions)
    return hashlib.sha256(material.encode()).hexdigest()[:24]


def tenant_digests(by_tenant: dict[str, list[Position]], floor: Any) -> dict[str, str]:
    kept = {t: [p for p in positions if p[0] >= floor] for t, positions in by_tenant.items()}
    return {t: digest(positions) for t, positions in kept.items() if positions}


def detect(feed: ChangeFeed, spec: CatalogSpec, previous: Optional[TenantCursor],
           overlap_seconds: float) -> tuple[Optional[TenantCursor], dict[str, Any]]:
    """The new cursor (None: no row at all) and the tenants with changes, each with the floor its runs read from
    (EVERY_ROW on the first tick, when every tenant with rows gets a run)."""
    if previous is None:
        newest = feed.newest_of_all(spec)
        if newest is None:
            return None, {}
        floor = minus(not_after_now(newest[0]), overlap_seconds)
        digests = tenant_digests(feed.window_by_tenant(spec, floor), floor)
        return (TenantCursor(ChangeCursor(newest[0], newest[1], floor, ""), digests),
                dict.fromkeys(feed.tenants_with_rows(spec), EVERY_ROW))
    last = previous.window
    by_tenant = feed.window_by_tenant(spec, last.floor)
    digests = tenant_digests(by_tenant, last.floor)
    changed = {t: last.floor for t in set(digests) | set(previous.digests) if digests.get(t) != previous.digests.get(t)}
    if not changed:
        return previous, {}
    newest = max([p[-1] for p in by_tenant.values() if p] + [(last.value, last.key)], key=order)
    floor = max(last.floor, minus(not_after_now(newest[0]), overlap_seconds))
    window = ChangeCursor(newest[0], newest[1], floor, "")
    return TenantCursor(window, tenant_digests(by_tenant, floor), dict(previous.held), previous.registry,
                        previous.known), changed


def earliest(a: Any, b: Any) -> Any:
    return EVERY_ROW if a is EVERY_ROW or b is EVERY_ROW else min(a, b)


def busy_copies(instance: Any, copies: list[str]) -> set[str]:
    """The copies among these with a run queued or in progress: one query for all of them."""
    records = instance.get_run_records(RunsFilter(tags={COPY_TAG: copies}, statuses=IN_FLIGHT))
    return {record.dagster_run.tags.get(COPY_TAG) for record in records}


def any_active(engine: Any) -> bool:
    """Whether a tenant is registered and active: the registry's one-row aggregate."""
    return TenantStore(engine).active_signature()[0] > 0


def from_single(cursors: dict[str, ChangeCursor], jobs: dict[str, Any]) -> Optional[TenantCursor]:
    """The shared cursor that takes over from the default tenant's per-system cursors when tenants become active:
    the window from their lowest floor (no digest yet, so the default tenant's rows in it count as changed, and a
    system without a cursor reads all its rows); no tenant known yet, so every active one gets a run over all
    its rows. None (a first tick) without any cursor."""
    if not cursors:
        return None
    newest = max(((c.value, c.key) for c in cursors.values()), key=order)
    floor = min(c.floor for c in cursors.values())
    missing = {s: EVERY_ROW for s in jobs if s not in cursors}
    return TenantCursor(ChangeCursor(newest[0], newest[1], floor, ""), {},
                        {DEFAULT_TENANT: missing} if missing else {})


def to_single(cursor: TenantCursor, jobs: dict[str, Any]) -> dict[str, ChangeCursor]:
    """The default tenant's per-system cursors when no tenant is active any more: the shared window with an empty
    digest, so the next tick reads the default tenant's window once more; a held system from its held floor, or,
    held for every row, without a cursor (a first tick for it)."""
    held = cursor.held.get(DEFAULT_TENANT, {})
    window = cursor.window
    return {s: ChangeCursor(window.value, window.key, held.get(s, window.floor), "")
            for s in jobs if not (s in held and held[s] is EVERY_ROW)}


def tenant_tick(context: SensorEvaluationContext, spec: CatalogSpec, jobs: dict[str, Any], feed: ChangeFeed,
                overlap_seconds: float, previous: Optional[TenantCursor] = None) -> Optional[SensorResult | SkipReason]:
    """One tick for every tenant: a run per (active tenant with changes, system) whose copy is not busy. `previous`
    when the cursor is not yet a tenant cursor (dagster_defs/sensors.py); None when no tenant is active any more
    and the cursor says the sensor ticked for tenants before (the caller goes back to the default tenant's tick)."""
    carried = previous is None
    if carried:
        previous = TenantCursor.loads(context.cursor)
        carried = previous is not None
    cursor, changed = detect(feed, spec, previous, overlap_seconds)
    if cursor is None:
        return SkipReason(f"no {spec.name} row yet")
    registry = TenantStore(feed.tables.engine)
    signature = registry.active_signature()
    if signature[0] == 0 and carried:
        return None
    if signature != cursor.registry:  # a tenant was added, enabled or disabled since the last tick
        active = registry.active_ids()
        if previous is not None:  # a tenant now active may have rows the sensor skipped, or never saw: all of them
            newly = sorted(set(active) - set(previous.known))
            changed |= dict.fromkeys(feed.tenants_with_rows(spec, newly) if newly else [], EVERY_ROW)
        cursor.registry, cursor.known = signature, active
    elif not changed and not cursor.held:
        return SkipReason(f"no {spec.name} row changed")
    # Held pairs of a system no longer watched (ZENSYNC_SKIP_SYSTEMS, a strategy changed) are dropped.
    pending = {t: {s: v for s, v in systems.items() if s in jobs} for t, systems in cursor.held.items()}
    for tenant, since in changed.items():
        for system in jobs:
            held = pending.setdefault(tenant, {})
            held[system] = earliest(held[system], since) if system in held else since
    statuses = registry.statuses(t for t in pending if t != DEFAULT_TENANT)
    for tenant in sorted(pending):
        status = ACTIVE if tenant == DEFAULT_TENANT else statuses.get(tenant)
        if status != ACTIVE:
            context.log.info(f"{spec.name}: rows of tenant {tenant!r} changed, but it is "
                             f"{'not registered' if status is None else status}: no run")
            del pending[tenant]
    copy = {(t, s): copy_tags(spec, s, t)[COPY_TAG] for t, systems in pending.items() for s in systems}
    busy = busy_copies(tick_instance(context), sorted(copy.values())) if copy else set()
    requests, held = [], {}
    # The registry's state too: a tenant enabled again, with no row changed, is a new transition with a new key.
    transition = (previous.window.dumps() if previous else "") + "->" + cursor.window.dumps() + json.dumps(signature)
    for (tenant, system), value in sorted(copy.items()):
        since = pending[tenant][system]
        if value in busy:  # its copy's run is in progress: asked again, with the same floor, when it ends
            held.setdefault(tenant, {})[system] = since
            continue
        material = f"{transition}|{tenant}|{system}|{'*' if since is EVERY_ROW else encode(since)}"
        key = hashlib.sha256(material.encode()).hexdigest()[:32]
        tags = whole_catalog_tags(spec, CHANGES, since) | tenant_tags(tenant) | {COPY_TAG: value} \
            | lane_tags(tenant, system)
        requests.append(RunRequest(run_key=f"{tenant}:{system}-changes-{key}", job_name=jobs[system].name, tags=tags))
    cursor.held = held
    if not requests:
        return SensorResult(skip_reason="the runs of these tenants' copies are still queued or running" if held
                            else f"no {spec.name} change of an active tenant", cursor=cursor.dumps())
    # As the default tenant's tick does: Dagster learns here that the table changed. The counts are the whole
    # table's, every tenant's rows (a spec without the tenant column reads them all).
    whole = dataclasses.replace(spec, tenant_column=None, tenant_partitions=False)
    seen = AssetMaterialization(catalog_key(spec), description=f"{spec.table} changed (seen by "
                                f"{sensor_name(spec)}, all tenants)", metadata=catalog_metadata(feed.tables, whole))
    return SensorResult(run_requests=requests, cursor=cursor.dumps(), asset_events=[seen])
