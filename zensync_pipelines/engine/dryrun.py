"""What a sync would do now, without doing it: the same planning as a run, and nothing written anywhere.

The plan reads the catalog and the mapping table only. For a sample of updates it can show the fields that
change, old -> new, when given a reader of the external objects as they are now (the mapping table keeps a
fingerprint of the last payload, not the payload itself).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional, Sequence

from .plan import RowPlan, plan_row
from .spec import CatalogSpec
from .sync import CatalogSource, MappingRepository, Selection, _resolve_references
from .types import CREATE, DELETE, UPDATE, WAITING, Operation, Outcome

SKIP = "skip"
# (object type, external ids) -> {external id: the object's current fields}; one call per sample, never a write.
Reader = Callable[[str, Sequence[str]], Mapping[str, Mapping[str, Any]]]


@dataclass(frozen=True)
class FieldChange:
    path: str  # dotted path in the payload, e.g. "address.city"
    old: Any
    new: Any


@dataclass(frozen=True)
class Sample:
    internal_id: str
    object_type: str
    action: str
    external_id: Optional[str]
    changes: Optional[list[FieldChange]]  # None: the current values were not read


@dataclass
class SyncPlan:
    counts: Counter = field(default_factory=Counter)  # (object type, action) -> rows; actions incl. skip
    rejected: list[Outcome] = field(default_factory=list)  # invalid rows and rows waiting on a parent/reference
    samples: list[Sample] = field(default_factory=list)
    rejected_total: int = 0

    def totals(self) -> dict[str, int]:
        totals = Counter({CREATE: 0, UPDATE: 0, DELETE: 0, SKIP: 0})
        for (_, action), count in self.counts.items():
            totals[action] += count
        return dict(totals)


def flatten(value: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    flat: dict[str, Any] = {}
    for key, item in value.items():
        path = f"{prefix}{key}"
        if isinstance(item, Mapping):
            flat.update(flatten(item, path + "."))
        else:
            flat[path] = item
    return flat


def field_changes(payload: Mapping[str, Any], current: Optional[Mapping[str, Any]]) -> list[FieldChange]:
    """The payload's fields whose value differs from the object's current one (absent counts as None). A field
    the current object does not show at all (e.g. a Salesforce lookup set through its relationship) cannot be
    compared and is left out rather than reported as a change."""
    now = flatten(current or {})
    return [FieldChange(path, now.get(path), new) for path, new in sorted(flatten(payload).items())
            if (current is None or path.split(".")[0] in current) and _norm(now.get(path)) != _norm(new)]


def _norm(value: Any) -> Any:
    return None if value == "" else value  # Stripe returns a cleared field as "" or null


class Planner:
    def __init__(self, spec: CatalogSpec, system: str, source: CatalogSource, mappings: MappingRepository,
                 reader: Optional[Reader] = None, sample_size: int = 5, rejected_size: int = 50,
                 chunk_size: int = 1000):
        self.spec, self.system, self.source, self.mappings = spec, system, source, mappings
        self.reader, self.sample_size, self.rejected_size, self.chunk_size = reader, sample_size, rejected_size, \
            chunk_size
        self._order = [obj.object_type for obj in spec.objects(system)]

    def plan(self, selection: Selection = Selection()) -> SyncPlan:
        result = SyncPlan()
        sampled: Counter = Counter()
        picked: list[Operation] = []
        for rows in self.source.iter_chunks(self.spec, selection, self.chunk_size):
            ids = [str(row[self.spec.primary_key]) for row in rows]
            states = self.mappings.load_states(self.spec.name, self.system, ids)
            references = _resolve_references(self.spec, self.system, rows, self.mappings)
            for internal_id, row, refs in zip(ids, rows, references):
                row_states = {t: states[(internal_id, t)] for t in self._order if (internal_id, t) in states}
                plan = plan_row(self.spec, self.system, row, row_states, refs)
                for op in plan.operations:
                    result.counts[(op.object_type, op.action)] += 1
                    if sampled[(op.object_type, op.action)] < self.sample_size:
                        sampled[(op.object_type, op.action)] += 1
                        picked.append(op)
                self._count_local(result, plan)
        result.samples = self._samples(picked)
        return result

    def _count_local(self, result: SyncPlan, plan: RowPlan) -> None:
        # plan_row counts skips without naming them: each object type gets an operation, a verdict or a skip.
        named = {op.object_type for op in plan.operations} | {o.object_type for o in plan.outcomes}
        for object_type in [t for t in self._order if t not in named][:plan.skipped]:
            result.counts[(object_type, SKIP)] += 1
        for outcome in plan.outcomes:
            if outcome.ok:  # a row retired locally (never written outside): a delete without an API call
                result.counts[(outcome.object_type, DELETE)] += 1
                continue
            result.counts[(outcome.object_type, "invalid" if outcome.status != WAITING else WAITING)] += 1
            result.rejected_total += 1
            if len(result.rejected) < self.rejected_size:
                result.rejected.append(outcome)

    def _samples(self, picked: list[Operation]) -> list[Sample]:
        current: dict[str, Mapping[str, Any]] = {}
        if self.reader is not None:
            for object_type in self._order:
                ids = [op.external_id for op in picked if op.object_type == object_type and op.action == UPDATE
                       and op.external_id]
                if ids:
                    current.update(self.reader(object_type, ids))
        samples = []
        for op in picked:
            changes: Optional[list[FieldChange]] = None
            if op.action == CREATE:
                changes = field_changes(op.payload, None)
            elif op.action == UPDATE and op.external_id in current:
                changes = field_changes(op.payload, current[op.external_id])
            samples.append(Sample(op.internal_id, op.object_type, op.action, op.external_id, changes))
        return samples
