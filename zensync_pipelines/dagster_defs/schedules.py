"""One reconcile schedule per catalog and system: the periodic full pass that the change sensor cannot be.

It re-reads every row (drift the cursor missed, e.g. a row changed without touching its cursor column, or a
late commit older than the sensor's overlap), retries failed rows, and deletes the external objects of rows
hard-deleted from the catalog.
"""

from typing import Optional

from dagster import RunRequest, ScheduleDefinition, ScheduleEvaluationContext, schedule

from ..engine.spec import CatalogSpec
from .scope import RECONCILE, whole_catalog_tags
from .settings import AutomationSettings


def schedule_name(spec: CatalogSpec, system: str) -> str:
    return f"{spec.name}_{system}_reconcile"


def build_reconcile_schedule(spec: CatalogSpec, system: str, job_name: str, settings: AutomationSettings,
                             cron: Optional[str] = None) -> ScheduleDefinition:
    """`cron`: the strategy's own schedule (trigger "schedule"), else the deployment's reconcile cron."""

    @schedule(name=schedule_name(spec, system), job_name=job_name, cron_schedule=cron or settings.reconcile_cron,
              execution_timezone="UTC", default_status=settings.schedule_status,
              description=f"Full reconcile of {spec.name} with {system}: drift, failed rows, hard deletes.")
    def _reconcile(context: ScheduleEvaluationContext) -> RunRequest:
        # The tick time keys the run, so a daemon restart never launches the same reconcile twice.
        return RunRequest(run_key=f"reconcile-{context.scheduled_execution_time:%Y%m%dT%H%M}",
                          tags=whole_catalog_tags(spec, RECONCILE))

    return _reconcile
