"""Large work in steps that can run on different workers: `sync_<catalog>_<system>_fanout`.

One run syncs many tenants (every active tenant of the registry that uses the system, or those named), and may
cut each tenant's rows further into ranges of months of creation: a planning step emits one dynamic output per
(tenant, months) unit, one sync step runs per unit (with the Celery executor, on whichever worker takes it; in
process, one after another), and a last step adds their counts up. Each unit's step reports like a run of its own
(its months, its totals, `tenant` and `months` in the metadata), so one tenant's outage fails that step, red, while
the others finish. A sensor's run stays the one small step of the copy's own job: fanning out costs a few seconds
of start-up per step, worth it only where there is work for several workers.

Limits across workers: every step of one tenant's lane draws from that lane's token bucket in the catalog database
(store/lanes.py) and keeps its Salesforce budget there (store/state.py), whichever worker runs it; the pool of the
system (`<system>_api`) bounds the steps of the whole deployment at once. docs/scale-out.md says more.
"""

import datetime as dt
import hashlib
import re
from typing import Any, Iterator, Optional

from dagster import (AssetMaterialization, Config, DynamicOut, DynamicOutput, Failure, In, JobDefinition,
                     MetadataValue, OpExecutionContext, Out, Output, job, op)
from pydantic import Field

from ..engine.spec import CatalogSpec
from ..engine.sync import Selection
from ..store.tables import DEFAULT_TENANT
from ..store.tenants import TenantStore
from .executors import job_executor
from .external import Event, sync_events
from .scope import COPY_TAG, SCOPE_TAG, RunScope, month_of, partitions_def
from .step_values import IO_MANAGER_KEY, forget_run, keep_failed, sweep

COUNTS = ("created", "updated", "deleted", "skipped", "failed", "waiting", "deferred", "api_calls")


def fanout_job_name(spec: CatalogSpec, system: str) -> str:
    return f"sync_{spec.name}_{system}_fanout"


class FanoutConfig(Config):
    tenants: Optional[list[str]] = Field(
        default=None, description="Tenants to sync; default: every active tenant that uses the system (a catalog "
                                  "without a tenant column: the default tenant).")
    months_per_step: int = Field(
        default=0, ge=0, description="0: one step per tenant; N: each tenant's rows in steps of N months of "
                                     "creation (the first also takes older rows, the last newer ones).")
    dry_run: bool = Field(default=False, description="Plan only, in every step: nothing written anywhere.")


def month_ranges(spec: CatalogSpec, months_per_step: int, oldest: Any = None,
                 newest: Any = None) -> list[tuple[Optional[str], Optional[str]]]:
    """[start, end) month keys covering every row of a tenant whose rows were created between `oldest` and
    `newest`: None at either end is unbounded, so rows older than the first range or newer than the last (created
    while the run runs) still belong to one. Months before the oldest row or after the newest cost no step."""
    if months_per_step <= 0 or oldest is None:
        return [(None, None)]
    keys = partitions_def(spec).get_partition_keys()
    first, last = _month(spec, oldest), _month(spec, newest)
    keys = [k for k in keys if first <= k <= last] or [first]
    starts = keys[::months_per_step]
    return [(None if i == 0 else start, starts[i + 1] if i + 1 < len(starts) else None)
            for i, start in enumerate(starts)]


def _month(spec: CatalogSpec, created: Any) -> str:
    return month_of(spec, {spec.created_at_column: created})


def mapping_key(tenant: str, start: Optional[str]) -> str:
    """A unit's key in the UI and the step key: Dagster allows [A-Za-z0-9_] only, so a tenant id with other
    characters is spelled safe and made unique again with a short hash of the real id."""
    safe = re.sub(r"[^A-Za-z0-9_]", "_", tenant)[:40]
    if safe != tenant:
        safe += "_" + hashlib.sha1(tenant.encode()).hexdigest()[:8]
    return safe + ("" if start is None else "_" + start[:7].replace("-", ""))


def unit_scope(unit: dict[str, Any]) -> Optional[RunScope]:
    """A unit with a month range reads the rows created in it; a whole tenant's unit takes its run's scope."""
    if unit["start"] is None and unit["end"] is None:
        return None

    def moment(key: Optional[str]) -> Optional[dt.datetime]:
        return None if key is None else dt.datetime.fromisoformat(key).replace(tzinfo=dt.timezone.utc)

    described = f"rows created in [{unit['start'] or 'the beginning'}, {unit['end'] or 'now'})"
    return RunScope(Selection(created_from=moment(unit["start"]), created_before=moment(unit["end"])), described)


def chosen_tenants(spec: CatalogSpec, system: str, config: FanoutConfig, store: TenantStore) -> list[str]:
    if not spec.tenant_column:
        # Without a tenant column every tenant would read the same rows: the catalog is the default tenant's.
        if config.tenants not in (None, [DEFAULT_TENANT]):
            raise Failure(description=f"{spec.name} has no tenant column: its fan-out syncs the default tenant "
                                      f"only, not {', '.join(config.tenants)}")
        return [DEFAULT_TENANT]
    if config.tenants is not None:
        return list(dict.fromkeys(config.tenants))
    uses = {"stripe": "uses_stripe", "salesforce": "uses_salesforce"}.get(system)
    return [t.id for t in store.list(status="active") if uses is None or getattr(t, uses)]


def _sweep(context: OpExecutionContext, engine: Any) -> None:
    """Other runs' step values that no run will read again (step_values.py): a failed run's stay for a while."""
    try:
        keep = keep_failed()
    except ValueError as error:
        raise Failure(description=str(error)) from None

    def status(run_id: str) -> Any:
        run = context.instance.get_run_by_id(run_id)
        return None if run is None else run.status

    swept = sweep(engine, status, keep)
    if swept:
        context.log.info(f"forgot the step values of {len(swept)} ended run(s): {', '.join(swept[:5])}"
                         + (" ..." if len(swept) > 5 else ""))


def build_fanout_job(spec: CatalogSpec, system: str) -> JobDefinition:
    name = fanout_job_name(spec, system)

    @op(name=f"{system}__{spec.name}__units", required_resource_keys={"catalog_db"},
        out=DynamicOut(dict, io_manager_key=IO_MANAGER_KEY),
        description=f"One unit per tenant (and range of months) to sync to {system}.")
    def _units(context: OpExecutionContext, config: FanoutConfig) -> Iterator[DynamicOutput]:
        if config.months_per_step and context.run.tags.get(SCOPE_TAG):
            raise Failure(description=f"months_per_step cuts a sync of every row; a run tagged {SCOPE_TAG}="
                                      f"{context.run.tags[SCOPE_TAG]} fans out per tenant only (months_per_step 0)")
        database = context.resources.catalog_db
        _sweep(context, database.engine())
        tenants = chosen_tenants(spec, system, config, TenantStore(database.engine()))
        units = 0
        for tenant in tenants:
            # A tenant's ranges span its own rows' months only (one cheap MIN/MAX query each).
            created = database.catalog(tenant).created_range(spec) if config.months_per_step else (None, None)
            for start, end in month_ranges(spec, config.months_per_step, *created):
                units += 1
                yield DynamicOutput({"tenant": tenant, "start": start, "end": end, "dry_run": config.dry_run},
                                    mapping_key=mapping_key(tenant, start))
        context.log.info(f"{spec.name} -> {system}: {units} steps for {len(tenants)} tenants")

    @op(name=f"{system}__{spec.name}__unit", required_resource_keys={"catalog_db", system}, pool=f"{system}_api",
        ins={"unit": In(dict)}, out=Out(dict, io_manager_key=IO_MANAGER_KEY),
        description=f"Sync one tenant's {spec.name} (or a range of months of them) to {system}.")
    def _sync_unit(context: OpExecutionContext, unit: dict) -> Iterator[Any]:
        closing: dict[str, Any] = {}
        months = f"[{unit['start'] or '...'}, {unit['end'] or '...'})"

        def summary(metadata: dict) -> Event:
            closing.update(metadata)
            return AssetMaterialization(asset_key=[system, spec.name], metadata=metadata | {
                "tenant": MetadataValue.text(unit["tenant"]), "months": MetadataValue.text(months)})

        scope = unit_scope(unit)
        yield from sync_events(context, spec, system, unit["dry_run"], summary, tenant=unit["tenant"],
                               scope=scope, disjoint=scope is not None)
        counts = {k: int(closing[k].value) for k in COUNTS if k in closing}
        yield Output(counts | {"tenant": unit["tenant"], "months": months})

    @op(name=f"{system}__{spec.name}__totals", required_resource_keys={"catalog_db"},
        ins={"results": In(list)}, description="Add the units' counts up; forget the run's step values.")
    def _totals(context: OpExecutionContext, results: list) -> Output:
        totals = {k: sum(r.get(k, 0) for r in results) for k in COUNTS}
        # This run's values, and a re-execution's parent's and root's, which it has read.
        for run_id in dict.fromkeys(filter(None, (context.run.run_id, context.run.parent_run_id,
                                                  context.run.root_run_id))):
            forget_run(context.resources.catalog_db.engine(), run_id)
        context.log.info(f"{spec.name} -> {system}: {len(results)} steps, {totals}")
        return Output(None, metadata={"steps": MetadataValue.int(len(results)),
                                      "tenants": MetadataValue.int(len({r["tenant"] for r in results}))}
                      | {k: MetadataValue.int(v) for k, v in totals.items()})

    # No lane tag: the run spans many lanes, and each step draws on its own lane's shared limits instead. The copy
    # tag keeps two fan-outs of one copy from running at once (the instance allows one run per value).
    @job(name=name, executor_def=job_executor(), tags={COPY_TAG: f"fanout:{spec.name}.{system}"},
         description=f"Sync {spec.name} to {system} for many tenants (or ranges of months) in steps that run on "
                     f"different workers.")
    def _fanout() -> None:
        _totals(_units().map(_sync_unit).collect())

    return _fanout
