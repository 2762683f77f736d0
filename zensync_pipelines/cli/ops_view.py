"""Terminal rendering of the operator commands, with rich's tables."""

from __future__ import annotations

import datetime as dt
import os
import sys
from typing import Any, Mapping, Optional, Sequence

from rich.console import Console
from rich.table import Table

from ..engine.dryrun import SKIP, SyncPlan

ACTIONS = ("create", "update", "delete", SKIP, "invalid", "waiting")


# Piped or redirected, rich would fit every table into 80 columns and cut names (`cat…`, `sys…`), so that
# `zensync status | grep customers` found nothing: without a terminal the output is as wide as its content.
UNLIMITED = 100_000


def console() -> Console:
    """A terminal's own width (or COLUMNS); piped or redirected, as wide as the content."""
    columns = int(os.environ.get("COLUMNS") or 0) or None
    if columns is None and not sys.stdout.isatty():
        columns = UNLIMITED
    return Console(width=columns, soft_wrap=False, highlight=False)


def _when(value: Optional[dt.datetime | float]) -> str:
    if value is None:
        return "-"
    if isinstance(value, (int, float)):
        value = dt.datetime.fromtimestamp(value, dt.timezone.utc)
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)  # SQLite hands back naive UTC
    return f"{value:%Y-%m-%d %H:%M:%S} UTC"


def _short(value: Any, limit: int = 60) -> str:
    text = "-" if value is None else repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _reason(code: Optional[str], message: Optional[str]) -> str:
    return f"{message} ({code})" if message and code else message or code or ""


def print_run(run_id: str, job: str, success: bool, totals: Mapping[str, Any]) -> None:
    out = console()
    out.print(f"{job}: run {run_id} {'succeeded' if success else 'FAILED'}")
    if totals:
        table = Table("created", "updated", "deleted", "skipped", "failed", "waiting", "api calls", "seconds")
        table.add_row(*(str(totals.get(k, 0)) for k in ("created", "updated", "deleted", "skipped", "failed",
                                                         "waiting", "api_calls", "seconds")))
        out.print(table)
        if totals.get("failed") or totals.get("waiting"):
            out.print("Rows that did not sync and why: zensync status, zensync explain CATALOG ID.")


def print_plan(catalog: str, system: str, plan: SyncPlan, why_not_read: Optional[str]) -> None:
    out = console()
    out.print(f"Plan for {catalog} -> {system} (dry run: nothing was written)")
    counts = Table("object", *ACTIONS, title="Rows per action")
    for object_type in sorted({obj for obj, _ in plan.counts}):
        counts.add_row(object_type, *(str(plan.counts.get((object_type, action), 0)) for action in ACTIONS))
    out.print(counts)
    if plan.samples:
        diffs = Table("row", "object", "action", "field", "old", "new", title="Sample changes (old -> new)")
        for sample in plan.samples:
            if sample.changes is None:
                diffs.add_row(sample.internal_id, sample.object_type, sample.action,
                              f"(current values not read: {why_not_read or 'unavailable'})", "", "")
            for change in sample.changes or ():
                diffs.add_row(sample.internal_id, sample.object_type, sample.action, change.path,
                              _short(change.old), _short(change.new))
        out.print(diffs)
    if plan.rejected:
        rejected = Table("row", "object", "status", "field", "reason", title="Rows that would be rejected")
        for outcome in plan.rejected:
            rejected.add_row(outcome.internal_id, outcome.object_type, outcome.status, outcome.error_field or "",
                             outcome.error_message or "")
        out.print(rejected)
        if plan.rejected_total > len(plan.rejected):
            out.print(f"{plan.rejected_total - len(plan.rejected)} more rejected rows not shown.")


def print_status(rows: Sequence[tuple[str, str, Mapping[str, Any], Any]], budget: Optional[Mapping[str, Any]]) -> None:
    out = console()
    table = Table("catalog", "system", "synced", "failed", "invalid", "waiting", "pending", "deleted", "last run",
                  "outcome", "last attempt", "next retry",
                  title="zensync status (rows counted under their worst object)")
    for catalog, system, summary, record in rows:
        counts = summary["counts"]
        run = record.dagster_run if record else None
        table.add_row(catalog, system, *(str(counts[k]) for k in ("synced", "failed", "invalid", "waiting",
                                                                    "pending", "deleted")),
                      _when(record.start_time) if record else "-", run.status.value.lower() if run else "-",
                      _when(summary["last_attempt_at"]), _when(summary.get("next_retry_at")))
    out.print(table)
    if budget:
        out.print(f"Salesforce API budget: {budget.get('used')} of {budget.get('limit')} calls used today "
                  f"(as last reported, {budget.get('observed_at')})")
        if budget.get("resumes_at"):
            out.print(f"Salesforce syncs make no call until {budget['resumes_at']}: the budget's share is spent")
    else:
        out.print("Salesforce API budget: not reported yet (no Salesforce sync has run)")


def print_tenants(tenants: Sequence[Mapping[str, Any]]) -> None:
    """Each registered tenant's copies (cli/status.py's document): rows per status, the last run."""
    table = Table("tenant", "status", "catalog", "system", "synced", "failed", "invalid", "waiting", "pending",
                  "last run", "outcome", "last attempt", title="Tenants (zensync status --tenant T for one)")
    for tenant in tenants:
        for copy in tenant["copies"]:
            run = copy["last_run"]
            table.add_row(tenant["id"], tenant["status"], copy["catalog"], copy["system"],
                          *(str(copy["counts"][k]) for k in ("synced", "failed", "invalid", "waiting", "pending")),
                          _when(run["started_at"]) if run else "-", run["status"] if run else "-",
                          _when(copy["last_attempt_at"]))
    console().print(table)


def print_story(catalog: str, row_id: str, found: Sequence[Mapping[str, Any]],
                events: Sequence[Mapping[str, Any]], inbound: Sequence[Mapping[str, Any]] = (),
                conflicts: Sequence[Mapping[str, Any]] = ()) -> None:
    out = console()
    out.print(f"{catalog} row {row_id}")
    objects = Table("system", "object", "status", "external id", "attempts", "last synced", "last error",
                    title="Objects")
    for m in found:
        error = _reason(m.get("last_error_code"), m.get("last_error"))
        objects.add_row(m["system"], m["object_type"], m["status"], m["external_id"] or "-", str(m["attempts"]),
                        _when(m["synced_at"]), error or "-")
    out.print(objects)
    attempts = Table("when", "way", "system", "object", "operation", "outcome", "attempt", "reason", "run/event",
                     title="Every outbound write and every change applied from a system, oldest first")
    story = [(_when(e["occurred_at"]), "out", e["system"], e["object_type"], e["operation"], e["outcome"],
              str(e["attempt"]), _reason(e.get("error_code"), e.get("error_message")) or "-", e["run_id"][:8])
             for e in events]
    story += [(_when(i["received_at"]), "in", i["system"], i["object_type"], i["event_type"], i["outcome"] or "-",
               str(i["attempts"]), i.get("last_error") or "-", _short(i["event_id"], 24)) for i in inbound]
    for line in sorted(story, key=lambda s: s[0]):
        attempts.add_row(*line)
    out.print(attempts)
    if conflicts:
        table = Table("recorded", "system", "object", "field", "catalog value", "system value", "catalog at",
                      "system at", "rule", "winner", title="Conflicts (a field changed on both sides)")
        for c in conflicts:
            table.add_row(_when(c["recorded_at"]), c["system"], c["object_type"], c["field"], c["catalog_value"],
                          c["system_value"], _when(c["catalog_at"]), _when(c["system_at"]), c["rule"], c["winner"])
        out.print(table)
