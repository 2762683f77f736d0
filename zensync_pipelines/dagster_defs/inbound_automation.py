"""What starts inbound work: a sensor on the inbox per catalog and system, and a polling schedule per system.

The sensor's idle tick is one indexed query (the newest due event id). A run applies everything due, so the
sensor asks again only for newer events, or, when a run left events due (an outage failed it), after a minute.
Polling is the fallback for lost webhooks: it reads the system's change feed from a stored cursor into the same
inbox, deduplicated by event id, and the sensor takes it from there. Where every catalog polled has a tenant
column, each registered tenant's own account or org is read too, into its own inbox rows from its own cursor.

A catalog with a tenant column has the same one sensor for all tenants: one grouped query finds each active
tenant's newest due event, and a tenant whose previous run is in progress waits while the others go on.
"""


import dataclasses
import datetime as dt
import json
import os
import time
from typing import Any, Optional, Sequence

from dagster import (Failure, In, JobDefinition, MetadataValue, Nothing, OpExecutionContext, Output, RunRequest,
                     ScheduleDefinition, SensorDefinition, SensorEvaluationContext, SensorResult, SkipReason, job, op,
                     sensor)

from ..engine.spec import CatalogSpec, inbound_routes, inbound_systems
from ..store.inbox import InboxStore
from ..store.state import StateStore
from ..store.tables import DEFAULT_TENANT
from ..store.tenant_fields import ACTIVE
from ..store.tenant_ticks import newest_due_by_tenant
from ..store.tenants import TenantStore
from .executors import job_executor
from .inbound_systems import INBOUND_SYSTEMS
from .resources import tick_database, tick_instance
from .scope import tenant_tags
from .sensors import busy_tenants
from .tenant_systems import tenant_system
from .settings import AutomationSettings
from .waking import waiting_tick

RETRY_SECONDS = 60  # a run that left events due (the run failed) is retried this often, never every tick
POLL_CRON = "ZENSYNC_POLL_CRON"


def inbox_sensor_name(spec: CatalogSpec, system: str) -> str:
    return f"{spec.name}_{system}_inbox"


def newest_due(context: SensorEvaluationContext, spec: CatalogSpec, system: str) -> dict[str, int]:
    """Per tenant with events due, the newest due event's id: one indexed query, grouped by tenant for a catalog
    with a tenant column (active tenants and the default one only)."""
    engine = tick_database(context).engine()
    if spec.tenant_column:
        return newest_due_by_tenant(engine, spec.name, system, dt.datetime.now(dt.timezone.utc))
    newest = InboxStore(engine).newest_due_id(spec.name, system)
    return {} if newest is None else {DEFAULT_TENANT: newest}


def load_handed(text: Optional[str]) -> dict[str, dict[str, Any]]:
    """The cursor: per tenant, the newest event handed to a run and when. The default tenant's at the top level,
    as before tenants ({"id", "at"}); the others' under "tenants"."""
    data = json.loads(text) if text else {}
    handed = dict(data.get("tenants", {}))
    if "id" in data:
        handed[DEFAULT_TENANT] = {"id": data["id"], "at": data["at"]}
    return handed


def dump_handed(handed: dict[str, dict[str, Any]]) -> str:
    others = {t: v for t, v in handed.items() if t != DEFAULT_TENANT}
    return json.dumps(handed.get(DEFAULT_TENANT, {}) | ({"tenants": others} if others else {}))


def build_inbox_sensor(spec: CatalogSpec, system: str, job_name: str,
                       settings: AutomationSettings) -> SensorDefinition:
    """One sensor for every tenant's events: a run per tenant with newer events due; the default tenant's run,
    key and cursor are those from before tenants, another tenant's run carries its tag."""
    name = inbox_sensor_name(spec, system)

    @sensor(name=name, job_name=job_name, minimum_interval_seconds=settings.sensor_interval_seconds,
            default_status=settings.sensor_status,
            description=f"Applies {system} events for {spec.name} as soon as they are in the inbox.")
    def _inbox(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        # An idle tick waits for the next write (the receiver's inbox commit) and looks again (waking.py).
        return waiting_tick(context, name, settings.sensor_wait_seconds, lambda: _tick(context))

    def _tick(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        newest = newest_due(context, spec, system)
        if not newest:
            return SkipReason(f"no {system} event due for {spec.name}")
        previous = load_handed(context.cursor)
        now = time.time()
        # A tenant whose newest due event was handed to a run less than a minute ago waits (its run may still be
        # applying it, or failed and left it due: asked again after RETRY_SECONDS, never every tick).
        wanted = {t for t, i in newest.items()
                  if not (previous.get(t, {}).get("id") == i and now - previous[t].get("at", 0) < RETRY_SECONDS)}
        if not wanted:
            if set(newest) == {DEFAULT_TENANT}:
                return SkipReason(f"event {newest[DEFAULT_TENANT]} was handed to a run "
                                  f"{now - previous[DEFAULT_TENANT]['at']:.0f} s ago")
            return SkipReason(f"the tenants' newest {system} events were handed to runs less than "
                              f"{RETRY_SECONDS} s ago")
        busy = busy_tenants(tick_instance(context), name)
        # Kept for tenants with events due only; the default tenant's as before, whatever is due.
        handed = {t: v for t, v in previous.items() if t in newest or t == DEFAULT_TENANT}
        requests = []
        for tenant in sorted(wanted - busy):
            handed[tenant] = {"id": newest[tenant], "at": now}
            key = f"inbox-{newest[tenant]}-{int(now)}" if tenant == DEFAULT_TENANT else \
                f"inbox-{tenant}-{newest[tenant]}-{int(now)}"
            requests.append(RunRequest(run_key=key, tags=tenant_tags(tenant)))
        if not requests:
            return SkipReason("the previous run of this sensor is still queued or running" if wanted == {DEFAULT_TENANT}
                              else "the tenants' previous runs of this sensor are still queued or running")
        return SensorResult(run_requests=requests, cursor=dump_handed(handed))

    return _inbox


def _metadata(result: Any) -> dict[str, Any]:
    values = dataclasses.asdict(result) if dataclasses.is_dataclass(result) else dict(result or {})
    return {name: MetadataValue.int(value) if isinstance(value, int) and not isinstance(value, bool)
            else MetadataValue.text(json.dumps(value, default=str)) for name, value in values.items()}


def polled_tenants(engine: Any, system: str) -> list[str]:
    """The registered tenants whose `system` a poll reads besides the default tenant's: active, with an account or
    an org of that system in the registry."""
    return [t.id for t in TenantStore(engine).list(status=ACTIVE) if getattr(t, f"uses_{system}", False)]


def poll_tenants(context: OpExecutionContext, system: str, routes: dict[str, str],
                 tenant_ids: list[str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Each tenant's poll: its own account or org (its registry entry), its own inbox rows and its own stored
    cursor (zensync_state under its tenant). One tenant's failure (a revoked key, an org down) is noted and the
    next tenant is polled; the results per tenant, and the failures, each one line."""
    hooks, engine = INBOUND_SYSTEMS[system], context.resources.catalog_db.engine()
    resource = getattr(context.resources, system)
    results, failures = {}, {}
    for tenant in tenant_ids:
        try:
            access = resource if tenant == DEFAULT_TENANT else tenant_system(resource, system, tenant, engine)
            results[tenant] = hooks.poll(access, InboxStore(engine, tenant), StateStore(engine, tenant), routes)
            context.log.info(f"{system} poll, tenant {tenant}: {results[tenant]}")
        except Exception as error:  # noqa: BLE001 - isolated per tenant; the run fails after the others
            failures[tenant] = (error.description if isinstance(error, Failure) else
                                f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}")
            context.log.error(f"{system} poll, tenant {tenant}: {failures[tenant]}")
    return results, failures


def build_poll_job(system: str, routes: dict[str, str], suffix: str = "", tenanted: bool = False) -> JobDefinition:
    """`tenanted`: every catalog polled has a tenant column, so each registered tenant's account or org is polled
    too, after the default tenant's (which is polled exactly as before tenants)."""
    hooks = INBOUND_SYSTEMS[system]

    @op(name=f"poll_{system}{suffix}_events", required_resource_keys={"catalog_db", system}, ins={"start": In(Nothing)},
        description=f"Read {system}'s change feed from the stored cursor into the inbox ({', '.join(routes)}).")
    def _poll(context: OpExecutionContext) -> Output:
        engine = context.resources.catalog_db.engine()
        others = polled_tenants(engine, system) if tenanted else []
        if not others:
            result = hooks.poll(getattr(context.resources, system), InboxStore(engine), StateStore(engine), routes)
            context.log.info(f"{system} poll: {result}")
            return Output(None, metadata=_metadata(result))
        results, failures = poll_tenants(context, system, routes, [DEFAULT_TENANT] + others)
        if failures:
            # Loud, after every other tenant was polled: the run fails with one line per tenant that failed.
            raise Failure(description=f"{system} poll failed for {len(failures)} of {len(others) + 1} tenants: "
                                      + "; ".join(f"{t}: {reason}" for t, reason in failures.items()),
                          metadata={"tenants_polled": MetadataValue.json(sorted(results)),
                                    "tenants_failed": MetadataValue.json(failures)})
        metadata = _metadata(results[DEFAULT_TENANT])
        metadata["tenants"] = MetadataValue.json({t: json.loads(json.dumps(
            dataclasses.asdict(r) if dataclasses.is_dataclass(r) else r, default=str)) for t, r in results.items()})
        return Output(None, metadata=metadata)

    @job(name=f"poll_{system}{suffix}", executor_def=job_executor(),
         description=f"Poll {system} for changes whose webhooks were lost.")
    def _job() -> None:
        _poll()

    return _job


def build_polling_definitions(specs: Sequence[CatalogSpec],
                              settings: AutomationSettings) -> tuple[list[JobDefinition], list[ScheduleDefinition]]:
    jobs, schedules = [], []
    for system in inbound_systems(specs):
        if system not in INBOUND_SYSTEMS:
            continue
        routes = inbound_routes(specs, system)
        by_name = {spec.name: spec for spec in specs}
        tenanted = all(by_name[catalog].tenant_column for catalog in routes.values())
        # Salesforce has no change feed but a query per object: a schedule each, so one object's failure (a
        # missing field, a spent budget) does not hold back the others' repair.
        parts = [(f"_{o}", {o: c}) for o, c in routes.items()] if INBOUND_SYSTEMS[system].poll_per_object \
            else [("", routes)]
        for suffix, polled_routes in parts:
            polled = build_poll_job(system, polled_routes, suffix, tenanted)
            jobs.append(polled)
            schedules.append(ScheduleDefinition(
                name=f"{system}{suffix}_poll_events", job=polled,
                cron_schedule=os.environ.get(POLL_CRON) or "*/5 * * * *", execution_timezone="UTC",
                default_status=settings.schedule_status,
                description=f"Reads {system}'s changes ({', '.join(polled_routes)}) into the inbox: the fallback "
                            "for lost webhooks and outbound messages."))
    return jobs, schedules
