"""One retry sensor per catalog and system: transient failures heal by themselves, without the nightly reconcile.

A row that failed for a transient reason (5xx, dropped connection, lock, rate limit) carries the time of its
next try (engine/retry.py: minutes, growing with attempts, capped); a row left `pending` by a run that died
counts too. Each tick asks for a run over exactly those rows, by id. Permanent failures are never picked: a
change of their row brings them back through the change sensor. The sensor is on whenever the change sensors are
(ZENSYNC_SENSORS_DEFAULT) and stays quiet while a spent API budget keeps the system closed. A change run that
failed (an outage, a killed worker) is run again the same way, since its rows may never have been read.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from typing import Any, Optional

from dagster import (DagsterInstance, DagsterRunStatus, RunRequest, RunsFilter, SensorDefinition,
                     SensorEvaluationContext, SkipReason, sensor)

from ..engine.retry import retry_delay
from ..engine.spec import CatalogSpec
from ..store.state import API_USAGE, StateStore
from .resources import tick_database
from .scope import CHANGES, IDS_TAG, RETRY, SCOPE_TAG, whole_catalog_tags
from .sensors import sensor_run_in_flight
from .settings import AutomationSettings

# Rows per retry run: a tag holds their ids, and a backlog larger than this drains over a few ticks.
MAX_IDS = 500
# Retries are minutes apart; looking every 60 s keeps a due row waiting at most a minute. Each tick reads run
# records (a failed change run, a retry in flight), which costs ~40 ms of CPU: it is the one sensor that needs
# Dagster's instance on every tick (dagster_defs/resources.py, tick_database), so it ticks least often.
INTERVAL_SECONDS = 60


def retry_sensor_name(spec: CatalogSpec, system: str) -> str:
    return f"{spec.name}_{system}_retries"


def budget_closed_until(states: StateStore, system: str, now: dt.datetime) -> dt.datetime | None:
    usage = states.get(system, API_USAGE) or {}
    resumes = dt.datetime.fromisoformat(usage["resumes_at"]) if usage.get("resumes_at") else None
    return resumes if resumes is not None and resumes > now else None


RERUN_DEPTH_TAG = "zensync/rerun_depth"  # how many failed change runs in a row this one repeats
FINISHED = [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED]


def failed_change_run(instance: DagsterInstance, job_name: str, now: dt.datetime) -> Optional[RunRequest]:
    """A rerun of the newest change run when it failed (an outage, a lost worker): the change sensor's cursor
    moved past its rows, which no failed-row retry can see when the run never reached them. Reruns back off like
    row retries, so an outage that lasts costs one short run (the breaker's calls) per growing wait."""
    records = instance.get_run_records(RunsFilter(job_name=job_name, statuses=FINISHED,
                                                  tags={SCOPE_TAG: CHANGES}), limit=1)
    return rerun_of(records[0], now) if records else None


def rerun_of(record: Any, now: dt.datetime) -> Optional[RunRequest]:
    """The rerun of a change run's record when it is the newest one and failed, once its backoff has passed."""
    if record.dagster_run.status != DagsterRunStatus.FAILURE:
        return None
    run, ended = record.dagster_run, record.end_time
    depth = int(run.tags.get(RERUN_DEPTH_TAG, "0")) + 1
    if ended is None or now.timestamp() - ended < retry_delay(depth).total_seconds():
        return None
    tags = {k: v for k, v in run.tags.items() if k.startswith("zensync/") or k.startswith("dagster/asset_partition")}
    return RunRequest(run_key=f"rerun-{run.run_id}", tags=tags | {RERUN_DEPTH_TAG: str(depth)})


def build_retry_sensor(spec: CatalogSpec, system: str, job_name: str,
                       settings: AutomationSettings) -> SensorDefinition:
    name = retry_sensor_name(spec, system)

    @sensor(name=name, job_name=job_name, minimum_interval_seconds=INTERVAL_SECONDS,
            default_status=settings.sensor_status,
            description=f"Retries {spec.name} rows that failed in {system} for a transient reason, with backoff.")
    def _retries(context: SensorEvaluationContext) -> RunRequest | SkipReason:
        mappings = tick_database(context).mappings()
        now = dt.datetime.now(dt.timezone.utc)
        closed = budget_closed_until(StateStore(mappings.engine), system, now)
        if closed is not None:
            return SkipReason(f"the {system} API budget is spent until {closed:%Y-%m-%d %H:%M} UTC")
        if sensor_run_in_flight(context.instance, name):
            return SkipReason("the previous retry run is still queued or running")
        rerun = failed_change_run(context.instance, job_name, now)
        if rerun is not None:
            return rerun
        ids = mappings.due_retries(spec.name, system, now, limit=MAX_IDS)
        if not ids:
            return SkipReason(f"no {spec.name} row is due for a retry")
        # The ids and the tick's minute key the run: a tick repeated after a crash asks for the same run.
        key = hashlib.sha256((",".join(ids) + f"@{now:%Y%m%d%H%M}").encode()).hexdigest()[:32]
        return RunRequest(run_key=f"retry-{key}", tags=whole_catalog_tags(spec, RETRY) | {IDS_TAG: ",".join(ids)})

    return _retries
