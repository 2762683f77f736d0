"""One retry sensor per catalog and system: transient failures heal by themselves, without the nightly reconcile.

A row that failed for a transient reason (5xx, dropped connection, lock, rate limit) carries the time of its
next try (engine/retry.py: minutes, growing with attempts, capped); a row left `pending` by a run that died
counts too. Each tick asks for a run over exactly those rows, by id. Permanent failures are never picked: a
change of their row brings them back through the change sensor. The sensor is on whenever the change sensors are
(ZENSYNC_SENSORS_DEFAULT) and stays quiet while a spent API budget keeps the system closed.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from dagster import RunRequest, SensorDefinition, SensorEvaluationContext, SkipReason, sensor

from ..engine.spec import CatalogSpec
from ..store.state import API_USAGE, StateStore
from .scope import IDS_TAG, RETRY, whole_catalog_tags
from .sensors import sensor_run_in_flight
from .settings import AutomationSettings

# Rows per retry run: a tag holds their ids, and a backlog larger than this drains over a few ticks.
MAX_IDS = 500
# Retries are minutes apart; looking every 30 s keeps a due row waiting well under a minute.
INTERVAL_SECONDS = 30


def retry_sensor_name(spec: CatalogSpec, system: str) -> str:
    return f"{spec.name}_{system}_retries"


def budget_closed_until(states: StateStore, system: str, now: dt.datetime) -> dt.datetime | None:
    usage = states.get(system, API_USAGE) or {}
    resumes = dt.datetime.fromisoformat(usage["resumes_at"]) if usage.get("resumes_at") else None
    return resumes if resumes is not None and resumes > now else None


def build_retry_sensor(spec: CatalogSpec, system: str, job_name: str,
                       settings: AutomationSettings) -> SensorDefinition:
    name = retry_sensor_name(spec, system)

    @sensor(name=name, job_name=job_name, minimum_interval_seconds=INTERVAL_SECONDS,
            default_status=settings.sensor_status, required_resource_keys={"catalog_db"},
            description=f"Retries {spec.name} rows that failed in {system} for a transient reason, with backoff.")
    def _retries(context: SensorEvaluationContext) -> RunRequest | SkipReason:
        mappings = context.resources.catalog_db.mappings()
        now = dt.datetime.now(dt.timezone.utc)
        closed = budget_closed_until(StateStore(mappings.engine), system, now)
        if closed is not None:
            return SkipReason(f"the {system} API budget is spent until {closed:%Y-%m-%d %H:%M} UTC")
        ids = mappings.due_retries(spec.name, system, now, limit=MAX_IDS)
        if not ids:
            return SkipReason(f"no {spec.name} row is due for a retry")
        if sensor_run_in_flight(context.instance, name):
            return SkipReason("the previous retry run is still queued or running")
        # The ids and the tick's minute key the run: a tick repeated after a crash asks for the same run.
        key = hashlib.sha256((",".join(ids) + f"@{now:%Y%m%d%H%M}").encode()).hexdigest()[:32]
        return RunRequest(run_key=f"retry-{key}", tags=whole_catalog_tags(spec, RETRY) | {IDS_TAG: ",".join(ids)})

    return _retries
