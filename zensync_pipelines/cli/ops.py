"""Operator commands: `zensync sync`, `plan`, `retry` and `explain` (`status` is cli/status.py).

`sync` and `retry` run the catalog's sync job in this process and record it as a Dagster run in the instance of
DAGSTER_HOME, else in `zensync dev`'s (in the data folder), so the run shows in the UI with its materializations
and checks. `plan`, `status` and `explain` only read.
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


def _spec(catalog: str, system: Optional[str] = None, tenant: str = DEFAULT_TENANT) -> CatalogSpec:
    """The catalog's spec; with `system`, also that system's settings, checked before anything runs (a tenant's
    are its registry entry's, checked as its run starts: a deployment may have no account or org of its own)."""
    specs = {spec.name: spec for spec in load_specs()}
    if catalog not in specs:
        raise click.BadParameter(f"no catalog {catalog!r}; known: {', '.join(sorted(specs))}", param_hint="CATALOG")
    if system is not None and system not in specs[catalog].systems:
        raise click.BadParameter(f"catalog {catalog!r} syncs to {', '.join(specs[catalog].systems)}, not {system!r}",
                                 param_hint="SYSTEM")
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


def _run_job(spec: CatalogSpec, system: str, tags: dict[str, str], tenant: str) -> None:
    from ..dagster_defs.factory import job_name
    from ..dagster_defs.scope import COPY_TAG, copy_tags, tenant_tags
    from ..dagster_defs.tenant_systems import lane_tags, run_in_progress
    from ..definitions import build_definitions

    tags = tags | tenant_tags(tenant) | copy_tags(spec, system, tenant) | lane_tags(tenant, system)
    job = build_definitions().resolve_job_def(job_name(spec, system))
    with _instance() as instance:
        if (busy := run_in_progress(instance, COPY_TAG, tags[COPY_TAG])) is not None:  # it skips the queue's check
            raise click.ClickException(f"{tags[COPY_TAG]} is busy: run {busy.run_id} ({busy.job_name}) "
                                       f"is in progress; run again when it ends")
        result = job.execute_in_process(instance=instance, tags=tags, raise_on_error=False)
    events = result.get_asset_materialization_events()
    totals = _totals([{k: v.value for k, v in e.materialization.metadata.items()} for e in events])
    print_run(result.run_id, job.name, result.success, totals)
    if not result.success:
        raise SystemExit(1)


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
@tenant_option
def sync(catalog: str, system: str, full: bool, first: Optional[str], last: Optional[str], tenant: str) -> None:
    """Sync a whole catalog (or the rows created in a range of months) to one system now, as a recorded run."""
    from ..dagster_defs.scope import (RANGE_END, RANGE_START, RECONCILE, partition_tags, partitions_def,
                                     whole_catalog_tags)

    from ..dagster_defs.scope import FROM_TAG, TO_TAG
    from ..dagster_defs.tenant_partitions import by_tenant, partition_by

    spec = by_tenant(_spec(catalog, system, tenant), partition_by())
    if first or last:
        if full:
            raise click.UsageError("--full reconciles the whole catalog; it takes no --from/--to")
        if spec.tenant_partitions:  # the copy's partitions are the tenants: the months go as run tags
            start, end = _month(first), _month(last)
            if start and end and start > end:
                raise click.BadParameter("--from must not come after --to")
            _run_job(spec, system, {FROM_TAG: m[:7] for m in [start] if m} | {TO_TAG: m[:7] for m in [end] if m},
                     tenant)
            return
        partitions = partitions_def(spec)
        start, end = _month(first) or partitions.get_first_partition_key(), \
            _month(last) or partitions.get_last_partition_key()
        keys = partitions.get_partition_keys()
        if start not in keys or end not in keys or start > end:
            raise click.BadParameter(f"months must lie in {keys[0][:7]} .. {keys[-1][:7]}, first before last")
        _run_job(spec, system, {RANGE_START: start, RANGE_END: end}, tenant)
        return
    _run_job(spec, system, whole_catalog_tags(spec, RECONCILE) if full else partition_tags(spec), tenant)


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
def retry(catalog: str, system: str, ids: Optional[str], tenant: str) -> None:
    """Retry rows that did not sync, now, as a recorded run."""
    from ..dagster_defs.scope import IDS_TAG, RETRY, whole_catalog_tags
    from ..dagster_defs.tenant_partitions import by_tenant, partition_by

    spec = by_tenant(_spec(catalog, system, tenant), partition_by())  # its tags follow the copy's partitions
    wanted = _ids(ids)
    _run_job(spec, system, whole_catalog_tags(spec, RETRY) | ({IDS_TAG: ",".join(wanted)} if wanted else {}),
             tenant)


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
