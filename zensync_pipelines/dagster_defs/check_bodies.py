"""What each check on an external copy finds for one tenant: its result and a one-line summary.

checks.py runs them for the run's tenant (the default tenant in a deployment without tenants, exactly as before)
and, for a copy partitioned by tenant, tells every tenant's last outcome (tenant_checks.py).
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from dagster import (AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, DagsterRunStatus, MetadataValue,
                     RunsFilter)

from ..engine.spec import CatalogSpec
from ..engine.types import FAILED, INVALID, SYNCED, WAITING
from ..store.changes import ChangeFeed
from ..store.state import API_USAGE, StateStore
from ..store.tables import DEFAULT_TENANT
from .drift import last_read_back
from .scope import CHANGES, COPY_TAG, RECONCILE, SCOPE_TAG, copy_tags
from .settings import AutomationSettings

PROBLEMS = (FAILED, INVALID, WAITING)
ROWS_SHOWN = 50
Found = tuple[AssetCheckResult, str]


def _cell(value: Any) -> str:
    return str(value if value is not None else "").replace("|", "\\|").replace("\n", " ")[:300]


def problems_markdown(rows: list[dict[str, Any]], total: int) -> str:
    if not rows:
        return "No failed rows."
    lines = ["| row | object | status | code | field | reason | attempts | next retry |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {_cell(r['internal_id'])} | {_cell(r['object_type'])} | {r['status']} | {_cell(r['last_error_code'])}"
              f" | {_cell(r['last_error_field'])} | {_cell(r['last_error'])} | {r['attempts']} | {_next_retry(r)} |"
              for r in rows]
    if total > len(rows):
        lines.append(f"\n{total - len(rows)} more not shown.")
    return "\n".join(lines)


def _next_retry(row: dict[str, Any]) -> str:
    """When the retry automation takes the row again; permanent failures wait for their row to change."""
    if row.get("next_retry_at") is not None:
        return f"{_utc(row['next_retry_at']):%Y-%m-%d %H:%M} UTC"
    return "when the row changes" if row["status"] in (FAILED, INVALID) else "with its parent"


def _utc(value: dt.datetime) -> dt.datetime:
    # SQLite hands back naive datetimes; zensync and the demo write UTC.
    return value if value.tzinfo else value.replace(tzinfo=dt.timezone.utc)


def parity(context: AssetCheckExecutionContext, spec: CatalogSpec, system: str, tenant: str) -> Found:
    database = context.resources.catalog_db
    live = database.catalog(tenant).stats(spec)["live_rows"]
    counts = database.mappings(tenant).object_status_counts(spec.name, system)
    metadata: dict[str, Any] = {"rows_in_scope": MetadataValue.int(live)}
    passed, missing = True, 0
    for object_type in [obj.name for obj in spec.objects(system)]:  # several of one type per row count apart
        synced = counts.get((object_type, SYNCED), 0)
        metadata[f"{object_type}_synced"] = MetadataValue.int(synced)
        metadata[f"{object_type}_missing"] = MetadataValue.int(max(live - synced, 0))
        # More synced objects than live rows: rows hard-deleted from the catalog, until a reconcile.
        metadata[f"{object_type}_orphaned_at_least"] = MetadataValue.int(max(synced - live, 0))
        passed = passed and synced == live
        missing += abs(live - synced)
    for (object_type, status), count in sorted(counts.items()):
        if status != SYNCED:
            metadata[f"{object_type}_{status}"] = MetadataValue.int(count)
    summary = f"{live} rows, {missing} objects missing or orphaned"
    # Counts alone cannot see an object changed or deleted on the other side; the last read-back can.
    read_back = last_read_back(spec, system, database.engine(), tenant)
    if read_back is not None:
        metadata["drift_at_last_read_back"] = MetadataValue.int(read_back["drift"])
        passed = passed and read_back["drift"] == 0
        summary += f", {read_back['drift']} drifted at the last read-back"
    return AssetCheckResult(passed=passed, severity=AssetCheckSeverity.WARN, metadata=metadata), summary


def failed_rows(context: AssetCheckExecutionContext, spec: CatalogSpec, system: str, tenant: str) -> Found:
    mappings = context.resources.catalog_db.mappings(tenant)
    counts = mappings.object_status_counts(spec.name, system)
    by_status = {status: sum(n for (_, s), n in counts.items() if s == status) for status in PROBLEMS}
    total = sum(by_status.values())
    rows = mappings.problem_rows(spec.name, system, PROBLEMS, ROWS_SHOWN)
    metadata: dict[str, Any] = {status: MetadataValue.int(count) for status, count in by_status.items()}
    metadata["rows"] = MetadataValue.md(problems_markdown(rows, total))
    metadata["row_ids"] = MetadataValue.text(", ".join(sorted({r["internal_id"] for r in rows})))
    next_retry = mappings.next_retry(spec.name, system)
    if next_retry is not None:
        metadata["next_retry"] = MetadataValue.timestamp(next_retry)
    usage = StateStore(mappings.engine, tenant).get(system, API_USAGE) or {}
    resumes = dt.datetime.fromisoformat(usage["resumes_at"]) if usage.get("resumes_at") else None
    if resumes is not None and resumes > dt.datetime.now(dt.timezone.utc):
        # The run share of the daily API allocation is spent: nothing syncs, retries included, until then.
        metadata["sync_resumes_at"] = MetadataValue.timestamp(resumes)
    summary = ", ".join(f"{n} {status}" for status, n in by_status.items() if n) or "no failed rows"
    return AssetCheckResult(passed=total == 0, severity=AssetCheckSeverity.WARN, metadata=metadata), summary


def last_covering_sync(context: AssetCheckExecutionContext, job_name: str,
                       copy: Optional[str] = None) -> Optional[dt.datetime]:
    """Start of the newest run that read every changed row: a sensor or reconcile run, this one included; of
    the copy `copy` (its zensync/copy tag: one tenant's) when given."""
    instance = context.instance
    starts = []
    if context.run.tags.get(SCOPE_TAG) in (CHANGES, RECONCILE):
        record = instance.get_run_record_by_id(context.run.run_id)
        starts.append(record.start_time if record and record.start_time else None)
    for scope in (CHANGES, RECONCILE):
        tags = {SCOPE_TAG: scope} | ({COPY_TAG: copy} if copy else {})
        records = instance.get_run_records(RunsFilter(job_name=job_name, statuses=[DagsterRunStatus.SUCCESS],
                                                      tags=tags), limit=1)
        starts += [record.start_time for record in records]
    known = [start for start in starts if start]
    return dt.datetime.fromtimestamp(max(known), dt.timezone.utc) if known else None


def freshness(context: AssetCheckExecutionContext, spec: CatalogSpec, system: str, tenant: str, job_name: str,
              settings: AutomationSettings) -> Found:
    feed = ChangeFeed(context.resources.catalog_db.catalog(tenant))
    max_lag = dt.timedelta(minutes=settings.freshness_max_lag_minutes)
    # By tenant, a tenant's covering runs are those of its copy; before tenants, every run of the job.
    copy = copy_tags(spec, system, tenant)[COPY_TAG] if spec.tenant_partitions else None
    last_sync = last_covering_sync(context, job_name, copy)
    if last_sync is None:
        newest = feed.newest(spec)
        return AssetCheckResult(passed=newest is None, severity=AssetCheckSeverity.WARN, metadata={
            "last_sync": MetadataValue.text("never"), "catalog_rows": MetadataValue.bool(newest is not None)}), \
            "never synced" + (" (has rows)" if newest is not None else " (no rows)")
    oldest = feed.oldest_change_since(spec, last_sync)
    metadata: dict[str, Any] = {"last_sync": MetadataValue.timestamp(last_sync),
                                "max_lag_minutes": MetadataValue.float(float(settings.freshness_max_lag_minutes))}
    if oldest is None:
        return AssetCheckResult(passed=True, severity=AssetCheckSeverity.WARN, metadata=metadata), "no change waits"
    if not isinstance(oldest, dt.datetime):
        metadata["note"] = MetadataValue.text(f"{spec.cursor_column} is not a timestamp: lag unknown")
        return AssetCheckResult(passed=True, severity=AssetCheckSeverity.WARN, metadata=metadata), "lag unknown"
    lag = dt.datetime.now(dt.timezone.utc) - _utc(oldest)
    metadata["oldest_unsynced_change"] = MetadataValue.timestamp(_utc(oldest))
    metadata["lag_minutes"] = MetadataValue.float(round(lag.total_seconds() / 60, 2) + 0.0)
    return AssetCheckResult(passed=lag <= max_lag, severity=AssetCheckSeverity.WARN, metadata=metadata), \
        f"oldest change waits {lag.total_seconds() / 60:.1f} min"


def drift(context: AssetCheckExecutionContext, spec: CatalogSpec, system: str, tenant: str) -> Found:
    found = last_read_back(spec, system, context.resources.catalog_db.engine(), tenant)
    if found is None:  # nothing was read back yet, so nothing is known to be as written: say so, do not pass
        flag = "" if tenant == DEFAULT_TENANT else f" --tenant {tenant}"
        return AssetCheckResult(passed=False, severity=AssetCheckSeverity.WARN,
                                description=f"No read-back of {system} yet: a reconcile run reads the objects "
                                            f"back (schedule {spec.name}_{system}_reconcile, or zensync sync "
                                            f"{spec.name} {system} --full{flag}).",
                                metadata={"last_read_back": MetadataValue.text("never")}), "no read-back yet"
    metadata: dict[str, Any] = {name: MetadataValue.int(found[name]) for name in (
        "checked", "changed", "inbound", "missing", "duplicates", "unsent", "api_calls", "drift")}
    metadata["last_read_back"] = MetadataValue.text(found["at"])
    metadata["examples"] = MetadataValue.json(found.get("examples") or [])
    return AssetCheckResult(passed=found["drift"] == 0, severity=AssetCheckSeverity.WARN, metadata=metadata), \
        f"{found['drift']} drifted of {found['checked']} read back"

