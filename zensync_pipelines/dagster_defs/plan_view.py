"""A dry run's plan as run metadata: counts per object and action, sample field diffs, rejected rows."""

from __future__ import annotations

from typing import Any

from dagster import MetadataValue

from ..engine.dryrun import SyncPlan


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def plan_markdown(plan: SyncPlan) -> dict[str, str]:
    counts = ["| object | action | rows |", "|---|---|---|"]
    counts += [f"| {obj} | {action} | {n} |" for (obj, action), n in sorted(plan.counts.items())]
    samples = ["| row | object | action | field | old | new |", "|---|---|---|---|---|---|"]
    for sample in plan.samples:
        if sample.changes is None:
            samples.append(f"| {sample.internal_id} | {sample.object_type} | {sample.action} | "
                           "(current values not read) | | |")
        for change in sample.changes or ():
            samples.append(f"| {sample.internal_id} | {sample.object_type} | {sample.action} | {change.path} | "
                           f"{_cell(change.old)} | {_cell(change.new)} |")
    rejected = ["| row | object | status | field | reason |", "|---|---|---|---|---|"]
    rejected += [f"| {o.internal_id} | {o.object_type} | {o.status} | {o.error_field or ''} | "
                 f"{_cell(o.error_message or '')} |" for o in plan.rejected]
    if plan.rejected_total > len(plan.rejected):
        rejected.append(f"\n{plan.rejected_total - len(plan.rejected)} more not shown.")
    return {"plan": "\n".join(counts), "sample_diffs": "\n".join(samples), "rejected": "\n".join(rejected)}


def plan_metadata(plan: SyncPlan) -> dict[str, Any]:
    metadata: dict[str, Any] = {"dry_run": MetadataValue.bool(True)}
    metadata |= {f"would_{action}": MetadataValue.int(n) for action, n in plan.totals().items()}
    metadata |= {name: MetadataValue.md(text) for name, text in plan_markdown(plan).items()}
    return metadata
