"""`zensync status`: how each catalog's copies stand, for the default tenant and every registered tenant.

Without a registered tenant the output is exactly the single-tenant table. With tenants, a second table gives each
tenant's health per copy (rows per status, last run, disabled); `--tenant T` narrows both to T, and `--json` prints
one document for scripts. The counts come from two grouped queries over all tenants (store/tenant_health.py).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any, Optional

import click

from .. import config
from ..catalogs import load_specs
from .ops import BUDGET_KEY, BUDGET_SCOPE, DEFAULT_TENANT, _engine
from .ops_view import console, print_status, print_tenants

RECENT = 20  # of a job's newest runs, where the default tenant's last one is looked for among tenants' runs


@click.command()
@click.option("--tenant", default=None, metavar="TENANT",
              help="Only this tenant's copies (default: the default tenant's, then every registered tenant's).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document instead of tables.")
def status(tenant: Optional[str], as_json: bool) -> None:
    """Per catalog and system: rows synced / failed / waiting / pending, the last run, the Salesforce budget; with
    tenants, each tenant's health."""
    from ..store.operations import OperationsView
    from ..store.state import StateStore
    from ..store.tenant_health import health
    from ..store.tenants import TenantStore

    engine = _engine()
    registered = {t.id: t.status for t in TenantStore(engine).list()}
    ids = [tenant] if tenant else [DEFAULT_TENANT, *registered]
    copies = [(spec.name, system) for spec in load_specs() for system in spec.systems]
    last_runs = _last_runs(ids, copies)
    found = health(engine, ids)
    document = [{"id": t, "status": registered.get(t, "active" if t == DEFAULT_TENANT else "unregistered"),
                 "copies": [_copy(catalog, system, found.get((t, catalog, system)), last_runs.get((t, catalog, system)))
                            for catalog, system in copies],
                 "salesforce_budget": StateStore(engine, t).get(BUDGET_SCOPE, BUDGET_KEY)} for t in ids]
    if as_json:
        click.echo(json.dumps({"tenants": document}, indent=2, default=str))
        return
    first = tenant or DEFAULT_TENANT
    view = OperationsView(engine, first)
    rows = [(catalog, system, view.summary(catalog, system), last_runs.get((first, catalog, system)))
            for catalog, system in copies]
    print_status(rows, StateStore(engine, first).get(BUDGET_SCOPE, BUDGET_KEY))
    if tenant and tenant != DEFAULT_TENANT and tenant not in registered:
        console().print(f"tenant {tenant} is not registered (zensync tenants list)")
    elif tenant and tenant != DEFAULT_TENANT:
        console().print(f"tenant {tenant}: {registered[tenant]}")
    elif not tenant and registered:
        print_tenants([t for t in document if t["id"] != DEFAULT_TENANT])


def _copy(catalog: str, system: str, found: Optional[dict[str, Any]], run: Any) -> dict[str, Any]:
    counts = found["counts"] if found else {}
    return {"catalog": catalog, "system": system,
            "counts": {k: counts.get(k, 0) for k in ("synced", "failed", "invalid", "waiting", "pending", "deleted")},
            "last_attempt_at": found["last_attempt_at"] if found else None,
            "last_run": None if run is None else {
                "run_id": run.dagster_run.run_id, "status": run.dagster_run.status.value.lower(),
                "started_at": None if run.start_time is None else
                dt.datetime.fromtimestamp(run.start_time, dt.timezone.utc)}}


def _last_runs(tenants: list[str], copies: list[tuple[str, str]]) -> dict[tuple[str, str, str], Any]:
    """The newest Dagster run of each tenant's copy (by its tenant tag; the default tenant's runs carry none),
    from an instance that exists (status creates none)."""
    home = os.environ.get("DAGSTER_HOME") or str(config.data_dir() / "dagster_home")
    if not os.path.exists(os.path.join(home, "dagster.yaml")):
        return {}
    from dagster import DagsterInstance, RunsFilter

    from ..dagster_defs.factory import job_name
    from ..dagster_defs.scope import TENANT_TAG, tenant_tags

    specs = {spec.name: spec for spec in load_specs()}
    found = {}
    with DagsterInstance.from_config(home) as instance:
        for tenant in tenants:
            for catalog, system in copies:
                job = job_name(specs[catalog], system)
                records = instance.get_run_records(RunsFilter(job_name=job, tags=tenant_tags(tenant)),
                                                   limit=1 if tenant != DEFAULT_TENANT else RECENT)
                mine = [r for r in records if r.dagster_run.tags.get(TENANT_TAG, DEFAULT_TENANT) == tenant]
                if mine:
                    found[(tenant, catalog, system)] = mine[0]
    return found
