"""The sync loop: read rows in chunks, plan, apply through a system adapter in batches, commit per batch.

Bookkeeping order is what makes a crash harmless: intents are committed before the external call, outcomes
right after each batch. A rerun replans from the mapping table, and derived idempotency keys or external-id
upserts turn any repeated write into a no-op.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Protocol, Sequence

from .failures import batch_failures, is_outage
from .plan import plan_delete, plan_row
from .same_row import resolve_batch
from .settled import DIGEST, HAD_DIGEST, SETTLED_STATUSES, Settled
from .spec import CatalogSpec
from .types import DELETE, WAITING, MappingState, Operation, Outcome, SyncReport


SETTLE_BATCH = 10_000  # settled rows' digests are stored this many at a time
VERDICT_BATCH = 5_000


@dataclass(frozen=True)
class Selection:
    """Which catalog rows a run looks at; all fields None means the whole catalog."""

    # Rows whose cursor column is at or after this value (incremental runs; the overlap is the caller's).
    changed_since: Any = None
    # Rows created in [start, end) (backfill partitions).
    created_from: Any = None
    created_before: Any = None
    ids: Optional[Sequence[str]] = None
    # Leave out rows settled for this system and spec (engine/settled.py); None reads and plans every row.
    settled: Optional[Settled] = None


class StopSync(Exception):
    """Raised by an adapter to end the run cleanly (API budget spent); `outcomes` are the ops it finished."""

    def __init__(self, reason: str, outcomes: Sequence[Outcome] = ()):
        super().__init__(reason)
        self.reason = reason
        self.outcomes = list(outcomes)


class SystemUnavailable(StopSync):
    """Raised by an adapter when its system is down or refuses zensync (the circuit breaker opened): the run stops
    like StopSync, keeping what finished and leaving untouched rows as they were, but it fails, loudly."""


class CatalogSource(Protocol):
    def iter_chunks(self, spec: CatalogSpec, selection: Selection, chunk_size: int) -> Iterator[list[dict]]: ...


class MappingRepository(Protocol):
    def load_states(self, catalog: str, system: str,
                    internal_ids: Sequence[str]) -> dict[tuple[str, str], MappingState]: ...

    def external_ids(self, catalog: str, system: str, object_type: str,
                     internal_ids: Sequence[str]) -> dict[str, str]: ...

    def record_intents(self, run_id: str, operations: Sequence[Operation]) -> None: ...

    def record_outcomes(self, run_id: str, outcomes: Sequence[Outcome], deferred: Sequence[Operation] = ()) -> None: ...


class SystemAdapter(Protocol):
    name: str
    batch_size: int
    api_calls: int

    def apply(self, operations: Sequence[Operation]) -> list[Outcome]: ...


def _resolve_references(spec: CatalogSpec, system: str, rows: Sequence[Mapping[str, Any]],
                        mappings: MappingRepository) -> list[dict[str, dict[str, Optional[str]]]]:
    """Per row: object type -> {target field: external id of the referenced row}, one query per reference."""
    resolved: list[dict[str, dict[str, Optional[str]]]] = [{} for _ in rows]
    if not spec.references(system):
        return resolved
    for obj in spec.objects(system):
        for f in obj.fields:
            if f.references is None:
                continue
            wanted = sorted({str(row[f.column]) for row in rows if row.get(f.column) is not None})
            found = mappings.external_ids(f.references.catalog, system, f.references.object_type, wanted)
            for index, row in enumerate(rows):
                value = row.get(f.column)
                target = resolved[index].setdefault(obj.name, {})
                target[f.target] = found.get(str(value)) if value is not None else None
    return resolved


def _row_boundary(operations: Sequence[Operation], size: int) -> int:
    """Cut after `size` operations, or a little later, so that a row's objects always share a batch: a child is
    held back when its parent fails, which only works when both are in the same batch."""
    cut = size
    while cut < len(operations) and operations[cut].internal_id == operations[cut - 1].internal_id:
        cut += 1
    return cut


class SyncRun:
    def __init__(self, spec: CatalogSpec, system: str, source: CatalogSource, mappings: MappingRepository,
                 adapter: SystemAdapter, run_id: str, chunk_size: int = 1000,
                 group_of: Optional[Callable[[Mapping[str, Any]], str]] = None):
        self.spec, self.system, self.source, self.mappings = spec, system, source, mappings
        self.adapter, self.run_id, self.chunk_size = adapter, run_id, chunk_size
        self.report = SyncReport()
        # Optional split of the counts by a row's group (e.g. its created-at month, for one materialization per
        # month with that month's own outcomes). Rows without a group (hard deletes) count in the total only.
        self.group_of = group_of
        self.groups: dict[str, SyncReport] = {}
        # Only rows with operations in flight: a row's group is dropped once its outcomes are counted, so the
        # run's memory is bounded by its batch, not by the rows it read.
        self._group_by_id: dict[str, str] = {}
        self._order = [obj.name for obj in spec.objects(system)]
        # Settled rows (engine/settled.py): digests of rows read this run, until their objects are settled;
        # rows with an outcome that is not settled; digests ready to store.
        self._digests: dict[str, str] = {}
        self._unsettled: set[str] = set()
        self._ready: dict[str, str] = {}
        # Local verdicts (invalid, waiting) are recorded a few thousand at a time, not once per chunk read: they
        # involve no external write, so a crash that loses some only means they are planned again.
        self._verdicts: list[Outcome] = []
        self._verdict_groups: list[Optional[str]] = []

    def run(self, selection: Selection = Selection()) -> SyncReport:
        if selection.settled is not None and hasattr(self.source, "settled_counts"):
            self._count_settled(selection)
        return self._drive(self._plan_chunk(rows)
                           for rows in self.source.iter_chunks(self.spec, selection, self.chunk_size))

    def _count_settled(self, selection: Selection) -> None:
        """Settled rows never leave the database: each of their objects counts as skipped, as if planned, in the
        run and in the group of the rows' created-at month. Counted before the read (a row this run settles must
        not count twice)."""
        objects = len(self._order)
        for created_at, rows in self.source.settled_counts(self.spec, selection):
            self.report.skipped += rows * objects
            if self.group_of is not None:
                self.group(self.group_of({self.spec.created_at_column: created_at})).skipped += rows * objects

    def delete_missing(self, internal_ids: Sequence[str]) -> SyncReport:
        """Delete the external objects of rows gone from the catalog (hard deletes, which no cursor can see)."""
        ids = list(internal_ids)
        if ids:
            # A settled digest must not outlive its row: a row later inserted again with the same id and columns
            # would be skipped while its object is deleted.
            self.mappings.unsettle(self.spec.name, self.system, ids)
        return self._drive(self._plan_deletes(ids[start:start + self.chunk_size])
                           for start in range(0, len(ids), self.chunk_size))

    def _drive(self, planned: Iterable[list[Operation]]) -> SyncReport:
        """Apply planned operations in batches; counts add up when one SyncRun drives several passes."""
        started, calls_before = time.monotonic(), self.adapter.api_calls
        pending: list[Operation] = []
        try:
            for operations in planned:
                pending += operations
                while len(pending) >= self.adapter.batch_size:
                    cut = _row_boundary(pending, self.adapter.batch_size)
                    batch, pending = pending[:cut], pending[cut:]
                    self._apply(batch)
            if pending:
                self._apply(pending)
            self._store_settled()
        except StopSync as stop:
            self._store_settled()  # rows finished before the stop are settled all the same
            self.report.stopped_reason = stop.reason
            if isinstance(stop, SystemUnavailable):
                self.report.outage = stop.reason
        finally:
            self.report.api_calls += self.adapter.api_calls - calls_before
            self.report.seconds += time.monotonic() - started
        return self.report

    def _plan_deletes(self, ids: Sequence[str]) -> list[Operation]:
        states = self.mappings.load_states(self.spec.name, self.system, ids)
        operations: list[Operation] = []
        verdicts: list[Outcome] = []
        for internal_id in ids:
            row_states = {t: states[(internal_id, t)] for t in self._order if (internal_id, t) in states}
            plan = plan_delete(self.spec, self.system, internal_id, row_states)
            operations += plan.operations
            verdicts += plan.outcomes
            self.report.skipped += plan.skipped
        if verdicts:
            self._record(verdicts)
        return operations

    def _plan_chunk(self, rows: Sequence[dict[str, Any]]) -> list[Operation]:
        ids = [str(row[self.spec.primary_key]) for row in rows]
        self._take_digests(ids, rows)
        states = self.mappings.load_states(self.spec.name, self.system, ids)
        references = _resolve_references(self.spec, self.system, rows, self.mappings)
        operations: list[Operation] = []
        verdicts: list[Outcome] = []
        for internal_id, row, refs in zip(ids, rows, references):
            row_states = {t: states[(internal_id, t)] for t in self._order if (internal_id, t) in states}
            plan = plan_row(self.spec, self.system, row, row_states, refs)
            operations += plan.operations
            verdicts += plan.outcomes
            self.report.skipped += plan.skipped
            if self.group_of is not None:
                group = self._group_by_id[internal_id] = self.group_of(row)
                self.group(group).skipped += plan.skipped
        self._hold_verdicts(verdicts)
        if self._digests or self._group_by_id:
            planned = {op.internal_id for op in operations}
            idle = [i for i in ids if i not in planned]
            if self._digests:
                self._settle(idle)  # nothing to write: settled already
            for internal_id in idle:
                self._group_by_id.pop(internal_id, None)  # its verdicts took their group along
        return operations

    def _take_digests(self, ids: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
        """Take the digests a catalog source attached (engine/settled.py) off the rows before planning. A row
        read despite a stored digest changed: that digest is forgotten before any of the row's writes, so a row
        that changes back while its write is in doubt is planned, not skipped."""
        stale = []
        for internal_id, row in zip(ids, rows):
            digest = row.pop(DIGEST, None)
            if row.pop(HAD_DIGEST, False):
                stale.append(internal_id)
            if digest is not None:
                self._digests[internal_id] = digest
        if stale:
            self.mappings.unsettle(self.spec.name, self.system, stale)

    def _settle(self, ids: Iterable[str]) -> None:
        """Rows whose every object got its outcome this run: keep their digests unless one was not settled."""
        for internal_id in ids:
            digest = self._digests.pop(internal_id, None)
            if digest is not None and internal_id not in self._unsettled:
                self._ready[internal_id] = digest
        if len(self._ready) >= SETTLE_BATCH:
            self._store_settled()

    def _hold_verdicts(self, verdicts: Sequence[Outcome]) -> None:
        for verdict in verdicts:
            if verdict.status not in SETTLED_STATUSES:
                self._unsettled.add(verdict.internal_id)  # now: the row may be settled before they are recorded
        self._verdicts += verdicts
        self._verdict_groups += [self._group_by_id.get(v.internal_id) for v in verdicts]
        if len(self._verdicts) >= VERDICT_BATCH:
            self._record_verdicts()

    def _record_verdicts(self) -> None:
        if self._verdicts:
            self._record(self._verdicts, groups=self._verdict_groups)
            self._verdicts, self._verdict_groups = [], []

    def _store_settled(self) -> None:
        self._record_verdicts()  # a digest is stored only once its row's verdicts are
        if self._ready:
            self.mappings.settle(self.spec.name, self.system, self._ready)
            self._ready = {}

    def _apply(self, batch: list[Operation]) -> None:
        """Apply one batch object type by object type, parents before children and children before deletes."""
        self.mappings.record_intents(self.run_id, batch)
        steps = [(t, False) for t in self._order] + [(t, True) for t in reversed(self._order)]
        failed_parents: dict[tuple[str, str], str] = {}
        written: dict[tuple[str, str], str] = {}  # (row, object) -> external id, for same-row ids (same_row.py)
        done: list[Outcome] = []
        try:
            for object_type, deleting in steps:
                ops = [op for op in batch if op.object_type == object_type and (op.action == DELETE) == deleting]
                ready, blocked = self._split_blocked(ops, failed_parents)
                ready, unresolved = resolve_batch(self.spec, ready, written)
                done += blocked + unresolved
                if ready:
                    outcomes = self._call_adapter(ready)
                    assert len(outcomes) == len(ready), "an adapter must answer every operation"
                    done += outcomes
                    for outcome in outcomes:
                        if not outcome.ok:
                            failed_parents[(outcome.internal_id, object_type)] = outcome.error_message or "failed"
                        elif outcome.external_id is not None:
                            written[(outcome.internal_id, object_type)] = outcome.external_id
        except StopSync as stop:
            done += stop.outcomes
            finished = {(o.internal_id, o.object_type, o.action) for o in done}
            self._record(done, [op for op in batch if (op.internal_id, op.object_type, op.action) not in finished])
            self._forget_groups(batch)
            raise
        self._record(done)
        if self._digests:
            self._settle({op.internal_id for op in batch})
        self._forget_groups(batch)

    def _forget_groups(self, batch: Sequence[Operation]) -> None:
        if self._group_by_id:
            for op in batch:
                self._group_by_id.pop(op.internal_id, None)

    def _call_adapter(self, ready: list[Operation]) -> list[Outcome]:
        try:
            return self.adapter.apply(ready)
        except StopSync:
            raise
        except Exception as error:  # a bug or an SDK surprise fails these rows, not the step (engine/failures.py)
            if is_outage(self.adapter, error):
                raise
            return batch_failures(ready, error)

    def _split_blocked(self, ops: list[Operation],
                       failed_parents: dict[tuple[str, str], str]) -> tuple[list[Operation], list[Outcome]]:
        parents_of = {obj.name: obj.parents for obj in self.spec.objects(self.system)}
        ready, blocked = [], []
        for op in ops:
            parent, reason = None, None
            if op.action != DELETE:
                parent = next((p for p in parents_of.get(op.object_type, ()) if (op.internal_id, p) in failed_parents),
                              None)
                reason = failed_parents.get((op.internal_id, parent)) if parent else None
            if reason is None:
                ready.append(op)
            else:
                blocked.append(Outcome.of(op, WAITING, error_code="parent_failed",
                                          error_message=f"waiting for {parent}: {reason}"))
        return ready, blocked

    def group(self, name: str) -> SyncReport:
        return self.groups.setdefault(name, SyncReport())

    def _record(self, outcomes: Sequence[Outcome], deferred: Sequence[Operation] = (),
                groups: Optional[Sequence[Optional[str]]] = None) -> None:
        """Record and count outcomes; `groups` names each outcome's group where the row's may be forgotten."""
        self.mappings.record_outcomes(self.run_id, outcomes, deferred)
        for index, outcome in enumerate(outcomes):
            if outcome.status not in SETTLED_STATUSES:
                self._unsettled.add(outcome.internal_id)
            self.report.count(outcome)
            group = groups[index] if groups is not None else self._group_by_id.get(outcome.internal_id)
            if group is not None:
                self.group(group).count(outcome)
        self.report.deferred += len(deferred)
        for op in deferred:
            self._unsettled.add(op.internal_id)
            group = self._group_by_id.get(op.internal_id)
            if group is not None:
                self.group(group).deferred += 1


def sync(spec: CatalogSpec, system: str, source: CatalogSource, mappings: MappingRepository,
         adapter: SystemAdapter, run_id: str, selection: Selection = Selection(), chunk_size: int = 1000) -> SyncReport:
    return SyncRun(spec, system, source, mappings, adapter, run_id, chunk_size).run(selection)
