"""One retry sensor per catalog and system: transient failures heal by themselves, without the nightly reconcile.

A row that failed for a transient reason (5xx, dropped connection, lock, rate limit) carries the time of its
next try (engine/retry.py: minutes, growing with attempts, capped); a row left `pending` by a run that died
counts too. Each tick asks for a run over exactly those rows, by id. Permanent failures are never picked: a
change of their row brings them back through the change sensor. The sensor is on whenever the change sensors are
(ZENSYNC_SENSORS_DEFAULT) and stays quiet while a spent API budget keeps the system closed. A change run that
failed (an outage, a killed worker) is run again the same way, since its rows may never have been read.

A catalog with a tenant column has the same one sensor per system for all its tenants: one query finds every
active tenant's due rows, one more their spent budgets (store/tenant_ticks.py), and the instance is read once for
the reruns and the runs in flight; a run per tenant, the default tenant's exactly as before tenants. Disabled and
unregistered tenants are left out by the queries themselves.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from dataclasses import dataclass
from typing import Any, Optional

from dagster import (DagsterInstance, DagsterRunStatus, RunRequest, RunsFilter, SensorDefinition,
                     SensorEvaluationContext, SensorResult, SkipReason, sensor)

from ..engine.retry import retry_delay
from ..engine.spec import CatalogSpec
from ..store.state import API_USAGE, StateStore
from ..store.tables import DEFAULT_TENANT
from ..store.tenant_ticks import closed_budgets, due_retries_by_tenant
from .resources import tick_database, tick_instance
from .scope import CHANGES, IDS_TAG, RETRY, SCOPE_TAG, TENANT_TAG, copy_tags, tenant_tags, whole_catalog_tags
from .sensors import busy_tenants, sensor_run_in_flight
from .settings import AutomationSettings
from .tenant_systems import lane_tags

# Rows per retry run: a tag holds their ids, and a backlog larger than this drains over a few ticks.
MAX_IDS = 500
# Retries are minutes apart; looking every 60 s keeps a due row waiting at most a minute. Each tick reads run
# records (a failed change run, a retry in flight), which costs ~40 ms of CPU: it is the one sensor that needs
# Dagster's instance on every tick (dagster_defs/resources.py, tick_database), so it ticks least often.
INTERVAL_SECONDS = 60
# How many of the job's newest finished change runs a tick of a tenant catalog reads to find each tenant's newest
# one: a tenant whose failed change run is older than these is left to the next change or the reconcile.
RERUN_SCAN = 1000


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


def newest_change_runs(instance: DagsterInstance, job_name: str, now: dt.datetime) -> dict[str, Any]:
    """Each tenant's newest finished change run of the job (its record): the job's newest one, as before tenants,
    and, while a change run failed in the last day (reruns back off to at most an hour, so an outage that lasts
    keeps failing within a day), each tenant's newest among the job's RERUN_SCAN newest."""
    changes = RunsFilter(job_name=job_name, statuses=FINISHED, tags={SCOPE_TAG: CHANGES})
    newest = {run_tenant_of(r): r for r in instance.get_run_records(changes, limit=1)}
    recent = RunsFilter(job_name=job_name, statuses=[DagsterRunStatus.FAILURE], tags={SCOPE_TAG: CHANGES},
                        updated_after=now - dt.timedelta(days=1))
    if not newest or not instance.get_run_records(recent, limit=1):
        return newest
    for record in instance.get_run_records(changes, limit=RERUN_SCAN):
        newest.setdefault(run_tenant_of(record), record)
    return newest


def run_tenant_of(record: Any) -> str:
    return record.dagster_run.tags.get(TENANT_TAG, DEFAULT_TENANT)


@dataclass
class RetryTick:
    """What one tick knows, per tenant: spent budgets, tenants with a run of this sensor in flight, failed change
    runs to run again, and due rows."""
    closed: dict[str, dt.datetime]
    busy: set[str]
    reruns: dict[str, RunRequest]
    due: dict[str, list[str]]


def default_tick(context: SensorEvaluationContext, name: str, spec: CatalogSpec, system: str, job_name: str,
                 now: dt.datetime) -> RetryTick:
    """A catalog without a tenant column: the default tenant's queries, each only when the one before let it."""
    mappings = tick_database(context).mappings()
    closed = budget_closed_until(StateStore(mappings.engine), system, now)
    if closed is not None:
        return RetryTick({DEFAULT_TENANT: closed}, set(), {}, {})
    if sensor_run_in_flight(tick_instance(context), name):
        return RetryTick({}, {DEFAULT_TENANT}, {}, {})
    rerun = failed_change_run(tick_instance(context), job_name, now)
    if rerun is not None:
        return RetryTick({}, set(), {DEFAULT_TENANT: rerun}, {})
    ids = mappings.due_retries(spec.name, system, now, limit=MAX_IDS)
    return RetryTick({}, set(), {}, {DEFAULT_TENANT: ids} if ids else {})


def tenants_tick(context: SensorEvaluationContext, name: str, spec: CatalogSpec, system: str, job_name: str,
                 now: dt.datetime) -> RetryTick:
    """A catalog with a tenant column: one query each for every active tenant's budgets and due rows (the default
    tenant among them), the instance read once for all reruns and runs in flight."""
    engine = tick_database(context).engine()
    closed = closed_budgets(engine, system, now)
    due = due_retries_by_tenant(engine, spec.name, system, now, MAX_IDS)
    reruns = {t: r for t, record in newest_change_runs(tick_instance(context), job_name, now).items()
              if (r := rerun_of(record, now)) is not None}
    wanted = (set(due) | set(reruns)) - set(closed)
    busy = busy_tenants(tick_instance(context), name) if wanted else set()
    return RetryTick(closed, busy, reruns, due)


def retry_request(spec: CatalogSpec, system: str, tenant: str, ids: list[str], now: dt.datetime) -> RunRequest:
    """The ids and the tick's minute key the run: a tick repeated after a crash asks for the same run. The default
    tenant's key and tags are those from before tenants; another tenant's name it, its copy and its lane."""
    tags = whole_catalog_tags(spec, RETRY) | {IDS_TAG: ",".join(ids)}
    if tenant == DEFAULT_TENANT:
        key = hashlib.sha256((",".join(ids) + f"@{now:%Y%m%d%H%M}").encode()).hexdigest()[:32]
        return RunRequest(run_key=f"retry-{key}", tags=tags)
    key = hashlib.sha256((f"{tenant}|" + ",".join(ids) + f"@{now:%Y%m%d%H%M}").encode()).hexdigest()[:32]
    return RunRequest(run_key=f"retry-{tenant}-{key}", tags=tags | tenant_tags(tenant)
                      | copy_tags(spec, system, tenant) | lane_tags(tenant, system))


def build_retry_sensor(spec: CatalogSpec, system: str, job_name: str,
                       settings: AutomationSettings) -> SensorDefinition:
    """One sensor for all tenants of the catalog: per tenant, in this order, a spent budget waits, a retry run in
    flight waits, a failed change run is run again, due rows get a run. A tenant that waits never holds back
    another; the default tenant's requests and reasons are those from before tenants."""
    name = retry_sensor_name(spec, system)

    @sensor(name=name, job_name=job_name, minimum_interval_seconds=INTERVAL_SECONDS,
            default_status=settings.sensor_status,
            description=f"Retries {spec.name} rows that failed in {system} for a transient reason, with backoff.")
    def _retries(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        now = dt.datetime.now(dt.timezone.utc)
        tick = (tenants_tick if spec.tenant_column else default_tick)(context, name, spec, system, job_name, now)
        requests, reasons = [], []
        for tenant in sorted(set(tick.due) | set(tick.reruns) | set(tick.closed) | set(tick.busy)):
            who = "" if tenant == DEFAULT_TENANT else f"tenant {tenant}: "
            if tenant in tick.closed:
                if tenant == DEFAULT_TENANT or tenant in tick.due or tenant in tick.reruns:
                    reasons.append(f"{who}the {system} API budget is spent until "
                                   f"{tick.closed[tenant]:%Y-%m-%d %H:%M} UTC")
            elif tenant in tick.busy:
                reasons.append(f"{who}the previous retry run is still queued or running")
            elif tenant in tick.reruns:  # the failed change run first: its rows may never have been read
                requests.append(tick.reruns[tenant])
            elif tenant in tick.due:
                requests.append(retry_request(spec, system, tenant, tick.due[tenant], now))
        if requests:
            for reason in reasons:
                context.log.info(reason)
            return SensorResult(run_requests=requests)
        return SkipReason("; ".join(reasons) or f"no {spec.name} row is due for a retry")

    return _retries
