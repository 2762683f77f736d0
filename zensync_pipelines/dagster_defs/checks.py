"""Asset checks on every external copy: parity with the catalog, failed rows, and how far it lags behind.

They read zensync's mapping table and the catalog, never the external system: a check costs no API call, so it
can run after every sync. Severity is WARN throughout: bad rows are data to fix, not a reason to stop syncing.
"""

import datetime as dt
from typing import Any, Optional

from dagster import (AssetCheckExecutionContext, AssetCheckResult, AssetCheckSeverity, AssetChecksDefinition,
                     DagsterRunStatus, MetadataValue, RunsFilter, asset_check)

from ..engine.spec import CatalogSpec
from ..engine.types import FAILED, INVALID, SYNCED, WAITING
from ..store.changes import ChangeFeed
from ..store.state import API_USAGE, StateStore
from .drift import last_read_back, supports_read_back
from .external import external_key
from .scope import CHANGES, RECONCILE, SCOPE_TAG
from .settings import AutomationSettings

PROBLEMS = (FAILED, INVALID, WAITING)
ROWS_SHOWN = 50


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


def last_covering_sync(context: AssetCheckExecutionContext, job_name: str) -> Optional[dt.datetime]:
    """Start of the newest run that read every changed row: a sensor or reconcile run, this one included."""
    instance = context.instance
    starts = []
    if context.run.tags.get(SCOPE_TAG) in (CHANGES, RECONCILE):
        record = instance.get_run_record_by_id(context.run.run_id)
        starts.append(record.start_time if record and record.start_time else None)
    for scope in (CHANGES, RECONCILE):
        records = instance.get_run_records(RunsFilter(job_name=job_name, statuses=[DagsterRunStatus.SUCCESS],
                                                      tags={SCOPE_TAG: scope}), limit=1)
        starts += [record.start_time for record in records]
    known = [start for start in starts if start]
    return dt.datetime.fromtimestamp(max(known), dt.timezone.utc) if known else None


def build_checks(spec: CatalogSpec, system: str, job_name: str,
                 settings: AutomationSettings) -> list[AssetChecksDefinition]:
    key = external_key(spec, system)
    object_types = [obj.name for obj in spec.objects(system)]  # several of one type per row count apart

    @asset_check(asset=key, name="parity", required_resource_keys={"catalog_db"}, blocking=False,
                 description=f"Every live {spec.name} row has a synced {system} object of each type, as zensync's "
                             f"own tables record it: {system} itself is not read back yet, so an object removed "
                             f"there behind zensync's back still counts as synced.")
    def _parity(context: AssetCheckExecutionContext) -> AssetCheckResult:
        database = context.resources.catalog_db
        live = database.catalog().stats(spec)["live_rows"]
        counts = database.mappings().object_status_counts(spec.name, system)
        metadata: dict[str, Any] = {"rows_in_scope": MetadataValue.int(live)}
        passed = True
        for object_type in object_types:
            synced = counts.get((object_type, SYNCED), 0)
            metadata[f"{object_type}_synced"] = MetadataValue.int(synced)
            metadata[f"{object_type}_missing"] = MetadataValue.int(max(live - synced, 0))
            # More synced objects than live rows: rows hard-deleted from the catalog, until a reconcile.
            metadata[f"{object_type}_orphaned_at_least"] = MetadataValue.int(max(synced - live, 0))
            passed = passed and synced == live
        for (object_type, status), count in sorted(counts.items()):
            if status != SYNCED:
                metadata[f"{object_type}_{status}"] = MetadataValue.int(count)
        # Counts alone cannot see an object changed or deleted on the other side; the last read-back can.
        read_back = last_read_back(spec, system, database.engine())
        if read_back is not None:
            metadata["drift_at_last_read_back"] = MetadataValue.int(read_back["drift"])
            passed = passed and read_back["drift"] == 0
        return AssetCheckResult(passed=passed, severity=AssetCheckSeverity.WARN, metadata=metadata)

    @asset_check(asset=key, name="failed_rows", required_resource_keys={"catalog_db"}, blocking=False,
                 description=f"No {spec.name} row is failed, invalid or waiting in {system}; lists them if so.")
    def _failed_rows(context: AssetCheckExecutionContext) -> AssetCheckResult:
        mappings = context.resources.catalog_db.mappings()
        counts = mappings.object_status_counts(spec.name, system)
        by_status = {status: sum(n for (_, s), n in counts.items() if s == status) for status in PROBLEMS}
        total = sum(by_status.values())
        rows = mappings.problem_rows(spec.name, system, PROBLEMS, ROWS_SHOWN)
        metadata = {status: MetadataValue.int(count) for status, count in by_status.items()}
        metadata["rows"] = MetadataValue.md(problems_markdown(rows, total))
        metadata["row_ids"] = MetadataValue.text(", ".join(sorted({r["internal_id"] for r in rows})))
        next_retry = mappings.next_retry(spec.name, system)
        if next_retry is not None:
            metadata["next_retry"] = MetadataValue.timestamp(next_retry)
        usage = StateStore(mappings.engine).get(system, API_USAGE) or {}
        resumes = dt.datetime.fromisoformat(usage["resumes_at"]) if usage.get("resumes_at") else None
        if resumes is not None and resumes > dt.datetime.now(dt.timezone.utc):
            # The run share of the daily API allocation is spent: nothing syncs, retries included, until then.
            metadata["sync_resumes_at"] = MetadataValue.timestamp(resumes)
        return AssetCheckResult(passed=total == 0, severity=AssetCheckSeverity.WARN, metadata=metadata)

    @asset_check(asset=key, name="freshness", required_resource_keys={"catalog_db"}, blocking=False,
                 description=f"No {spec.name} change waits longer than the allowed lag for a sync to {system}.")
    def _freshness(context: AssetCheckExecutionContext) -> AssetCheckResult:
        feed = ChangeFeed(context.resources.catalog_db.catalog())
        max_lag = dt.timedelta(minutes=settings.freshness_max_lag_minutes)
        last_sync = last_covering_sync(context, job_name)
        if last_sync is None:
            newest = feed.newest(spec)
            return AssetCheckResult(passed=newest is None, severity=AssetCheckSeverity.WARN, metadata={
                "last_sync": MetadataValue.text("never"), "catalog_rows": MetadataValue.bool(newest is not None)})
        oldest = feed.oldest_change_since(spec, last_sync)
        metadata: dict[str, Any] = {"last_sync": MetadataValue.timestamp(last_sync),
                                    "max_lag_minutes": MetadataValue.float(float(settings.freshness_max_lag_minutes))}
        if oldest is None:
            return AssetCheckResult(passed=True, severity=AssetCheckSeverity.WARN, metadata=metadata)
        if not isinstance(oldest, dt.datetime):
            metadata["note"] = MetadataValue.text(f"{spec.cursor_column} is not a timestamp: lag unknown")
            return AssetCheckResult(passed=True, severity=AssetCheckSeverity.WARN, metadata=metadata)
        lag = dt.datetime.now(dt.timezone.utc) - _utc(oldest)
        metadata["oldest_unsynced_change"] = MetadataValue.timestamp(_utc(oldest))
        metadata["lag_minutes"] = MetadataValue.float(round(lag.total_seconds() / 60, 2) + 0.0)
        return AssetCheckResult(passed=lag <= max_lag, severity=AssetCheckSeverity.WARN, metadata=metadata)

    checks = [_parity, _failed_rows, _freshness]
    if supports_read_back(system):
        checks.append(build_drift_check(spec, system))
    return checks


def build_drift_check(spec: CatalogSpec, system: str) -> AssetChecksDefinition:
    @asset_check(asset=external_key(spec, system), name="drift", required_resource_keys={"catalog_db"},
                 blocking=False, description=f"The last read-back of {system} found every {spec.name} object as "
                                             f"zensync wrote it (the reconcile reads them back and repairs drift).")
    def _drift(context: AssetCheckExecutionContext) -> AssetCheckResult:
        found = last_read_back(spec, system, context.resources.catalog_db.engine())
        if found is None:  # nothing was read back yet, so nothing is known to be as written: say so, do not pass
            return AssetCheckResult(passed=False, severity=AssetCheckSeverity.WARN,
                                    description=f"No read-back of {system} yet: a reconcile run reads the objects "
                                                f"back (schedule {spec.name}_{system}_reconcile, or zensync sync "
                                                f"{spec.name} {system} --full).",
                                    metadata={"last_read_back": MetadataValue.text("never")})
        metadata: dict[str, Any] = {name: MetadataValue.int(found[name]) for name in (
            "checked", "changed", "inbound", "missing", "duplicates", "unsent", "api_calls", "drift")}
        metadata["last_read_back"] = MetadataValue.text(found["at"])
        metadata["examples"] = MetadataValue.json(found.get("examples") or [])
        return AssetCheckResult(passed=found["drift"] == 0, severity=AssetCheckSeverity.WARN, metadata=metadata)

    return _drift
