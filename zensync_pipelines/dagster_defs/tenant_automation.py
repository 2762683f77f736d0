"""The retry and inbox sensors of a catalog with a tenant column: one tick for all tenants, a run per tenant.

Same names, intervals and rules as the single-tenant sensors (retries.py, inbound_automation.py), per tenant: one
query finds every active tenant's due rows (or due inbox events), one more its spent budgets (store/tenant_ticks.py);
the in-flight check and the failed change run's rerun read the instance once for all tenants. A tenant whose budget
is spent, or whose previous run of this sensor is still in progress, waits; the others go on. Disabled and
unregistered tenants are left out by the queries themselves.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
from typing import Any

from dagster import (DagsterRunStatus, RunRequest, RunsFilter, SensorDefinition, SensorEvaluationContext, SensorResult,
                     SkipReason, sensor)

from ..engine.spec import CatalogSpec
from ..store.tables import DEFAULT_TENANT
from ..store.tenant_ticks import closed_budgets, due_retries_by_tenant, newest_due_by_tenant
from .inbound_automation import RETRY_SECONDS, inbox_sensor_name
from .resources import tick_database
from .retries import FINISHED, INTERVAL_SECONDS, MAX_IDS, rerun_of, retry_sensor_name
from .scope import CHANGES, IDS_TAG, RETRY, SCOPE_TAG, TENANT_TAG, copy_tags, tenant_tags, whole_catalog_tags
from .sensors import IN_FLIGHT
from .settings import AutomationSettings
from .tenant_systems import lane_tags

# How many of the job's newest finished change runs the retry tick reads to find each tenant's newest one: a
# tenant whose failed change run is older than these is left to the next change or the reconcile.
RERUN_SCAN = 1000


def busy_tenants(instance: Any, name: str) -> set[str]:
    """The tenants with a run of sensor `name` queued or in progress: one query."""
    records = instance.get_run_records(RunsFilter(tags={"dagster/sensor_name": name}, statuses=IN_FLIGHT))
    return {r.dagster_run.tags.get(TENANT_TAG, DEFAULT_TENANT) for r in records}


def newest_change_runs(instance: Any, job_name: str, now: dt.datetime) -> dict[str, Any]:
    """Each tenant's newest finished change run of the job (its record), read only while a change run failed in
    the last day (reruns back off to at most hours, so an outage that lasts keeps failing within a day)."""
    recent = RunsFilter(job_name=job_name, statuses=[DagsterRunStatus.FAILURE], tags={SCOPE_TAG: CHANGES},
                        updated_after=now - dt.timedelta(days=1))
    if not instance.get_run_records(recent, limit=1):
        return {}
    newest: dict[str, Any] = {}
    for record in instance.get_run_records(RunsFilter(job_name=job_name, statuses=FINISHED,
                                                      tags={SCOPE_TAG: CHANGES}), limit=RERUN_SCAN):
        newest.setdefault(record.dagster_run.tags.get(TENANT_TAG, DEFAULT_TENANT), record)
    return newest


def build_tenant_retry_sensor(spec: CatalogSpec, system: str, job_name: str,
                              settings: AutomationSettings) -> SensorDefinition:
    name = retry_sensor_name(spec, system)

    @sensor(name=name, job_name=job_name, minimum_interval_seconds=INTERVAL_SECONDS,
            default_status=settings.sensor_status,
            description=f"Retries each tenant's {spec.name} rows that failed in {system} for a transient reason.")
    def _tenant_retries(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        engine = tick_database(context).engine()
        now = dt.datetime.now(dt.timezone.utc)
        closed = closed_budgets(engine, system, now)
        due = due_retries_by_tenant(engine, spec.name, system, now, MAX_IDS)
        reruns = {t: r for t, record in newest_change_runs(context.instance, job_name, now).items()
                  if (r := rerun_of(record, now)) is not None}
        wanted = (set(due) | set(reruns)) - set(closed)
        busy = busy_tenants(context.instance, name) if wanted else set()
        requests = []
        for tenant in sorted(wanted - busy):
            if tenant in reruns:  # the failed change run first: its rows may never have been read
                requests.append(reruns[tenant])
                continue
            ids = due[tenant]
            key = hashlib.sha256((f"{tenant}|" + ",".join(ids) + f"@{now:%Y%m%d%H%M}").encode()).hexdigest()[:32]
            tags = whole_catalog_tags(spec, RETRY) | {IDS_TAG: ",".join(ids)} | tenant_tags(tenant) \
                | copy_tags(spec, system, tenant) | lane_tags(tenant, system)
            requests.append(RunRequest(run_key=f"retry-{tenant}-{key}", tags=tags))
        for tenant, resumes in sorted(closed.items()):
            if tenant in due or tenant in reruns:
                context.log.info(f"tenant {tenant}: the {system} API budget is spent until {resumes:%Y-%m-%d %H:%M} "
                                 "UTC: no retry")
        if requests:
            return SensorResult(run_requests=requests)
        return SkipReason(f"no {spec.name} row of an active tenant is due for a retry" if not wanted
                          else "the tenants' previous retry runs are still queued or running")

    return _tenant_retries


def build_tenant_inbox_sensor(spec: CatalogSpec, system: str, job_name: str,
                              settings: AutomationSettings) -> SensorDefinition:
    name = inbox_sensor_name(spec, system)

    @sensor(name=name, job_name=job_name, minimum_interval_seconds=settings.sensor_interval_seconds,
            default_status=settings.sensor_status,
            description=f"Applies each tenant's {system} events for {spec.name} as soon as they are in the inbox.")
    def _tenant_inbox(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        newest = newest_due_by_tenant(tick_database(context).engine(), spec.name, system,
                                      dt.datetime.now(dt.timezone.utc))
        if not newest:
            return SkipReason(f"no {system} event due for {spec.name}")
        previous = json.loads(context.cursor) if context.cursor else {}
        now = time.time()
        # A tenant whose newest due event was handed to a run less than a minute ago waits (its run may still be
        # applying it, or failed and left it due: asked again after RETRY_SECONDS, never every tick).
        wanted = {t for t, i in newest.items()
                  if not (previous.get(t, {}).get("id") == i and now - previous[t].get("at", 0) < RETRY_SECONDS)}
        if not wanted:
            return SkipReason(f"the tenants' newest {system} events were handed to runs less than "
                              f"{RETRY_SECONDS} s ago")
        busy = busy_tenants(context.instance, name)
        requests, cursor = [], {t: v for t, v in previous.items() if t in newest}  # kept for due tenants only
        for tenant in sorted(wanted - busy):
            cursor[tenant] = {"id": newest[tenant], "at": now}
            key = f"inbox-{newest[tenant]}-{int(now)}" if tenant == DEFAULT_TENANT else \
                f"inbox-{tenant}-{newest[tenant]}-{int(now)}"
            requests.append(RunRequest(run_key=key, tags=tenant_tags(tenant)))
        if not requests:
            return SkipReason("the tenants' previous runs of this sensor are still queued or running")
        return SensorResult(run_requests=requests, cursor=json.dumps(cursor))

    return _tenant_inbox
