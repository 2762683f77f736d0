"""What starts inbound work: a sensor on the inbox per catalog and system, and a polling schedule per system.

The sensor's idle tick is one indexed query (the newest due event id). A run applies everything due, so the
sensor asks again only for newer events, or, when a run left events due (an outage failed it), after a minute.
Polling is the fallback for lost webhooks: it reads the system's change feed from a stored cursor into the same
inbox, deduplicated by event id, and the sensor takes it from there.
"""


import dataclasses
import json
import os
import time
from typing import Any, Sequence

from dagster import (In, JobDefinition, MetadataValue, Nothing, OpExecutionContext, Output, RunRequest,
                     ScheduleDefinition, SensorDefinition, SensorEvaluationContext, SkipReason, job, op,
                     sensor)

from ..engine.spec import CatalogSpec, inbound_routes, inbound_systems
from ..store.inbox import InboxStore
from ..store.state import StateStore
from .executors import job_executor
from .inbound_systems import INBOUND_SYSTEMS
from .resources import tick_database
from .sensors import sensor_run_in_flight
from .settings import AutomationSettings

RETRY_SECONDS = 60  # a run that left events due (the run failed) is retried this often, never every tick
POLL_CRON = "ZENSYNC_POLL_CRON"


def inbox_sensor_name(spec: CatalogSpec, system: str) -> str:
    return f"{spec.name}_{system}_inbox"


def build_inbox_sensor(spec: CatalogSpec, system: str, job_name: str,
                       settings: AutomationSettings) -> SensorDefinition:
    name = inbox_sensor_name(spec, system)

    @sensor(name=name, job_name=job_name, minimum_interval_seconds=settings.sensor_interval_seconds,
            default_status=settings.sensor_status,
            description=f"Applies {system} events for {spec.name} as soon as they are in the inbox.")
    def _inbox(context: SensorEvaluationContext) -> RunRequest | SkipReason:
        newest = InboxStore(tick_database(context).engine()).newest_due_id(spec.name, system)
        if newest is None:
            return SkipReason(f"no {system} event due for {spec.name}")
        previous = json.loads(context.cursor) if context.cursor else {}
        now = time.time()
        if previous.get("id") == newest and now - previous.get("at", 0) < RETRY_SECONDS:
            return SkipReason(f"event {newest} was handed to a run {now - previous['at']:.0f} s ago")
        if sensor_run_in_flight(context.instance, name):
            return SkipReason("the previous run of this sensor is still queued or running")
        context.update_cursor(json.dumps({"id": newest, "at": now}))
        return RunRequest(run_key=f"inbox-{newest}-{int(now)}")

    return _inbox


def _metadata(result: Any) -> dict[str, Any]:
    values = dataclasses.asdict(result) if dataclasses.is_dataclass(result) else dict(result or {})
    return {name: MetadataValue.int(value) if isinstance(value, int) and not isinstance(value, bool)
            else MetadataValue.text(json.dumps(value, default=str)) for name, value in values.items()}


def build_poll_job(system: str, routes: dict[str, str], suffix: str = "") -> JobDefinition:
    hooks = INBOUND_SYSTEMS[system]

    @op(name=f"poll_{system}{suffix}_events", required_resource_keys={"catalog_db", system}, ins={"start": In(Nothing)},
        description=f"Read {system}'s change feed from the stored cursor into the inbox ({', '.join(routes)}).")
    def _poll(context: OpExecutionContext) -> Output:
        engine = context.resources.catalog_db.engine()
        result = hooks.poll(getattr(context.resources, system), InboxStore(engine), StateStore(engine), routes)
        context.log.info(f"{system} poll: {result}")
        return Output(None, metadata=_metadata(result))

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
        # Salesforce has no change feed but a query per object: a schedule each, so one object's failure (a
        # missing field, a spent budget) does not hold back the others' repair.
        parts = [(f"_{o}", {o: c}) for o, c in routes.items()] if INBOUND_SYSTEMS[system].poll_per_object \
            else [("", routes)]
        for suffix, polled_routes in parts:
            polled = build_poll_job(system, polled_routes, suffix)
            jobs.append(polled)
            schedules.append(ScheduleDefinition(
                name=f"{system}{suffix}_poll_events", job=polled,
                cron_schedule=os.environ.get(POLL_CRON) or "*/5 * * * *", execution_timezone="UTC",
                default_status=settings.schedule_status,
                description=f"Reads {system}'s changes ({', '.join(polled_routes)}) into the inbox: the fallback "
                            "for lost webhooks and outbound messages."))
    return jobs, schedules
