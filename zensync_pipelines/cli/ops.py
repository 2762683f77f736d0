"""Operator commands: `zensync sync`, `plan`, `retry` and `explain` (`status` is cli/status.py).

`sync` and `retry` record the catalog's sync job as a Dagster run in the instance of DAGSTER_HOME, else in
`zensync dev`'s (in the data folder), so the run shows in the UI with its materializations and checks. An instance
with a run queue gets the run submitted and followed to its end (cli/submit.py); one without, or `--in-process`,
runs it in this process. `plan`, `status` and `explain` only read.
"""

from __future__ import annotations

import datetime as dt
import os
from contextlib import contextmanager
from typing import Any, Iterator, Optional

import click

from .. import config
from ..catalogs import load_specs
from ..engine.spec import CatalogSpec
from . import preflight
from .ops_view import console, print_plan, print_run, print_story

BUDGET_SCOPE, BUDGET_KEY = "salesforce", "api_usage"  # written by the Salesforce adapter's budget keeping
DEFAULT_TENANT = "default"  # store/tables.py's; not imported, so `zensync --help` loads no SQLAlchemy
# Every command reads and writes one tenant's rows only: its mappings, events, digests, cursors and catalog rows.
tenant_option = click.option("--tenant", default=DEFAULT_TENANT, show_default=True, metavar="TENANT",
                             help="The tenant whose rows to work on.")
# With a run queue (zensync dev's instance, deploy/production's), `sync` and `retry` submit their run to it and
# follow it: the queue's limits and the deployment's launcher and executor apply (cli/submit.py).
in_process_option = click.option("--in-process", is_flag=True,
                                 help="Run the job in this process, past the run queue (its limits, the deployment's "
                                      "executor), as on a single machine without a daemon.")


def _spec(catalog: str, system: Optional[str] = None, tenant: str = DEFAULT_TENANT) -> CatalogSpec:
    """The catalog's spec; with `system`, also that system's settings, checked before anything runs (a tenant's
    are its registry entry's, checked as its run starts: a deployment may have no account or org of its own)."""
    specs = {spec.name: spec for spec in load_specs()}
    if catalog not in specs:
        raise click.BadParameter(f"no catalog {catalog!r}; known: {', '.join(sorted(specs))}", param_hint="CATALOG")
    if system is not None and system not in specs[catalog].systems:
        raise click.BadParameter(f"catalog {catalog!r} syncs to {', '.join(specs[catalog].systems)}, not {system!r}",
                                 param_hint="SYSTEM")
    if system is not None and not specs[catalog].strategy(system).outbound:
        raise click.BadParameter(f"catalog {catalog!r} only reads {system} (strategy inbound_only): there is "
                                 f"nothing to sync to it; its changes come in through the inbox", param_hint="SYSTEM")
    if system is not None and tenant == DEFAULT_TENANT:
        preflight.system_settings(system)
    return specs[catalog]


def _engine() -> Any:
    from ..store import migrate

    _, engine = preflight.database()  # an unreachable or malformed URL ends in one line, not a driver traceback
    migrate.upgrade(engine)
    return engine


def _instance_home() -> str:
    from .dev import dagster_home

    return os.environ.get("DAGSTER_HOME") or str(dagster_home(config.data_dir()))


@contextmanager
def _instance() -> Iterator[Any]:
    from dagster import DagsterInstance

    with DagsterInstance.from_config(_instance_home()) as instance:
        yield instance


def _ids(value: Optional[str]) -> list[str]:
    return [i.strip() for i in (value or "").split(",") if i.strip()]


def _run_job(spec: CatalogSpec, system: str, tags: dict[str, str], tenant: str, in_process: bool) -> None:
    from ..dagster_defs.factory import job_name
    from ..dagster_defs.scope import COPY_TAG, copy_tags, tenant_tags
    from ..dagster_defs.tenant_systems import LANE_TAG, lane_tags
    from . import submit

    tags = tags | tenant_tags(tenant) | copy_tags(spec, system, tenant) | lane_tags(tenant, system)
    name, home = job_name(spec, system), _instance_home()
    with _instance() as instance:
        queued = not in_process and submit.has_run_queue(instance)
        # Checked first: a run nothing dequeues is not submitted. A deployment's instance (DAGSTER_HOME) keeps its
        # queue as the rule; zensync dev's own instance in the data folder, with dev stopped, has no other run to
        # queue behind: the run goes on here, as on a single machine before the queue.
        if queued and not submit.queue_daemon_alive(instance):
            if os.environ.get("DAGSTER_HOME"):
                raise click.ClickException(submit.no_daemon_line(home))
            click.echo(f"zensync dev is not running ({home}): running {name} in this process", err=True)
            queued = False
        if not queued:
            success, run_id, months = _execute_here(instance, name, tags)
            reason = None
        else:
            run = submit.create_run(instance, name, tags)
            instance.submit_run(run.run_id, workspace=None)  # the queue needs no workspace; the daemon has its own
            try:
                run = submit.follow(instance, run.run_id, (COPY_TAG, LANE_TAG), home)
            except KeyboardInterrupt:  # the run is the deployment's now: only the following stops
                click.echo(f"stopped following run {run.run_id}; it goes on: {submit.where_to_look(run.run_id, home)}")
                raise SystemExit(130) from None
            success, run_id = run.is_success, run.run_id
            months, reason = submit.outcome(instance, run_id)
    print_run(run_id, name, success, _totals(months))
    if not success:
        if reason is not None:  # a queued run's failure is in the deployment's logs, not on this terminal
            click.echo(f"run {run_id} failed: {reason} (logs: {submit.where_to_look(run_id, home)})")
        raise SystemExit(1)


def _execute_here(instance: Any, name: str, tags: dict[str, str]) -> tuple[bool, str, list[dict[str, Any]]]:
    """The job run in this process, past the run queue: its copy's run in progress is checked here instead."""
    from ..dagster_defs.scope import COPY_TAG
    from ..dagster_defs.tenant_systems import run_in_progress
    from ..definitions import build_definitions

    if (busy := run_in_progress(instance, COPY_TAG, tags[COPY_TAG])) is not None:  # it skips the queue's check
        raise click.ClickException(f"{tags[COPY_TAG]} is busy: run {busy.run_id} ({busy.job_name}) "
                                   f"is in progress; run again when it ends")
    job = build_definitions().resolve_job_def(name)
    result = job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)
    events = result.get_asset_materialization_events()
    return result.success, result.run_id, [{k: v.value for k, v in e.materialization.metadata.items()}
                                           for e in events]


def _month(value: Optional[str]) -> Optional[str]:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(f"{value[:7]}-01").isoformat()
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a month like 2025-03") from None


@click.command()
@click.argument("catalog")
@click.argument("system")
@click.option("--full", is_flag=True, help="Reconcile: also delete the objects of rows hard-deleted from the catalog.")
@click.option("--from", "first", metavar="YYYY-MM", help="Only rows created from this month (a backfill) ...")
@click.option("--to", "last", metavar="YYYY-MM", help="... to this month, included; one run, no backfill daemon.")
@click.option("--inbound", is_flag=True, help="The other way: apply the system's changes waiting in the inbox to "
                                             "the catalog (as zensync inbound CATALOG SYSTEM).")
@tenant_option
@in_process_option
def sync(catalog: str, system: str, full: bool, first: Optional[str], last: Optional[str], inbound: bool,
         tenant: str, in_process: bool) -> None:
    """Sync a whole catalog (or the rows created in a range of months) to one system now, as a recorded run."""
    from ..dagster_defs.scope import (RANGE_END, RANGE_START, RECONCILE, partition_tags, partitions_def,
                                     whole_catalog_tags)

    from ..dagster_defs.scope import FROM_TAG, TO_TAG
    from ..dagster_defs.tenant_partitions import by_tenant, partition_by

    if inbound:
        if full or first or last:
            raise click.UsageError("--inbound applies the inbox's events; it takes no --full, --from or --to")
        context = click.get_current_context()  # `zensync inbound`, found through the group: no import back
        context.invoke(context.parent.command.get_command(context.parent, "inbound"), catalog=catalog,
                       system=system, tenant=tenant)
        return
    spec = by_tenant(_spec(catalog, system, tenant), partition_by())
    if first or last:
        if full:
            raise click.UsageError("--full reconciles the whole catalog; it takes no --from/--to")
        if spec.tenant_partitions:  # the copy's partitions are the tenants: the months go as run tags
            start, end = _month(first), _month(last)
            if start and end and start > end:
                raise click.BadParameter("--from must not come after --to")
            _run_job(spec, system, {FROM_TAG: m[:7] for m in [start] if m} | {TO_TAG: m[:7] for m in [end] if m},
                     tenant, in_process)
            return
        partitions = partitions_def(spec)
        start, end = _month(first) or partitions.get_first_partition_key(), \
            _month(last) or partitions.get_last_partition_key()
        keys = partitions.get_partition_keys()
        if start not in keys or end not in keys or start > end:
            raise click.BadParameter(f"months must lie in {keys[0][:7]} .. {keys[-1][:7]}, first before last")
        _run_job(spec, system, {RANGE_START: start, RANGE_END: end}, tenant, in_process)
        return
    _run_job(spec, system, whole_catalog_tags(spec, RECONCILE) if full else partition_tags(spec), tenant, in_process)


def _totals(months: list[dict[str, Any]]) -> dict[str, Any]:
    """A run without a partition records its totals in one event; a range run's months add up to them."""
    whole = [m for m in months if "api_calls" in m]
    if whole or not months:
        return whole[-1] if whole else {}
    names = ("created", "updated", "deleted", "skipped", "failed", "waiting")
    totals = {name: sum(m.get(name, 0) for m in months) for name in names}
    return totals | {"api_calls": months[0]["run_api_calls"], "seconds": months[0]["run_seconds"]}


@click.command()
@click.argument("catalog")
@click.argument("system")
@click.option("--ids", help="Comma-separated row ids; default every row not synced (failed, invalid, waiting).")
@tenant_option
@in_process_option
def retry(catalog: str, system: str, ids: Optional[str], tenant: str, in_process: bool) -> None:
    """Retry rows that did not sync, now, as a recorded run."""
    from ..dagster_defs.scope import IDS_TAG, RETRY, whole_catalog_tags
    from ..dagster_defs.tenant_partitions import by_tenant, partition_by

    spec = by_tenant(_spec(catalog, system, tenant), partition_by())  # its tags follow the copy's partitions
    wanted = _ids(ids)
    _run_job(spec, system, whole_catalog_tags(spec, RETRY) | ({IDS_TAG: ",".join(wanted)} if wanted else {}),
             tenant, in_process)


@click.command()
@click.argument("catalog")
@click.argument("system")
@click.option("--ids", help="Comma-separated row ids; default the whole catalog.")
@click.option("--samples", type=click.IntRange(min=0), default=3, show_default=True,
              help="Field-level diffs to show per object type and action.")
@tenant_option
def plan(catalog: str, system: str, ids: Optional[str], samples: int, tenant: str) -> None:
    """What a sync would do now, writing nothing: counts per action, sample diffs, rejected rows."""
    from ..engine.dryrun import Planner
    from ..engine.sync import Selection
    from ..store.catalog import CatalogTables
    from ..store.mappings import MappingStore

    spec = _spec(catalog, system, tenant)
    engine = _engine()
    with _system_reader(system, tenant, engine) as (reader, why_not):
        planner = Planner(spec, system, CatalogTables(engine, tenant), MappingStore(engine, tenant), reader=reader,
                          sample_size=samples)
        result = planner.plan(Selection(ids=_ids(ids) or None))
    print_plan(spec.name, system, result, why_not)


@contextmanager
def _system_reader(system: str, tenant: str, engine: Any) -> Iterator[tuple[Any, Optional[str]]]:
    """The adapter's read of current objects (old values for the diffs), or None and why, when unconfigured; a
    tenant's own account or org for a tenant (unknown or disabled: an error)."""
    from dagster import Failure, build_resources

    from ..dagster_defs.resources import default_resources
    from ..dagster_defs.tenant_systems import tenant_system

    with build_resources({system: default_resources()[system]}) as resources:
        resource = getattr(resources, system)
        if tenant != DEFAULT_TENANT:
            try:
                resource = tenant_system(resource, system, tenant, engine)
            except Failure as failure:
                raise click.ClickException(failure.description or "") from None
        # Only building the adapter may fail over to planning from zensync's tables alone; an error of the plan
        # itself (a missing table) must reach the user as it is, so the yield stays outside the try.
        try:
            adapter = resource.adapter()
        except Exception as error:  # noqa: BLE001 - the settings passed preflight; the adapter still cannot start
            adapter, reason = None, f"{system} cannot be read here ({type(error).__name__})"
        else:
            reason = None if hasattr(adapter, "current") else f"{system} offers no read of current objects"
        yield getattr(adapter, "current", None), reason


@click.command()
@click.argument("catalog")
@click.argument("row_id")
@tenant_option
def explain(catalog: str, row_id: str, tenant: str) -> None:
    """One row's story across systems: its objects, external ids, status, every attempt with its reason, the
    changes applied from the systems, and its conflicts."""
    from ..store.conflicts import ConflictStore
    from ..store.operations import OperationsView

    spec = _spec(catalog)
    view = OperationsView(_engine(), tenant)
    found, events = view.story(spec.name, row_id)
    if not found and not events:
        console().print(f"{spec.name} row {row_id}: zensync has never planned it (no mapping, no attempt).")
        raise SystemExit(1)
    print_story(spec.name, row_id, found, events, view.inbound_story(spec.name, found),
                ConflictStore(_engine(), tenant).for_row(spec.name, row_id))


COMMANDS = [sync, plan, retry, explain]  # and status (cli/status.py)
