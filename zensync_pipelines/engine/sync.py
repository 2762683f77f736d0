"""The sync loop: read rows in chunks, plan, apply through a system adapter in batches, commit per batch.

Bookkeeping order is what makes a crash harmless: intents are committed before the external call, outcomes
right after each batch. A rerun replans from the mapping table, and derived idempotency keys or external-id
upserts turn any repeated write into a no-op.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from functools import partial
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Protocol, Sequence

from .batch import MemoryBatch, SpooledBatch
from .failures import batch_failures, is_outage
from .overwrite import OverwriteGuard
from .plan import plan_delete, plan_row
from .same_row import resolve_one
from .settled import DIGEST, HAD_DIGEST, SETTLED_STATUSES, Settled
from .spec import CatalogSpec
from .types import DELETE, PENDING, WAITING, MappingState, Operation, Outcome, SyncReport
from .write_back import take_back


SETTLE_BATCH = 50_000  # settled rows' digests are stored this many at a time (an id and an MD5 each)
VERDICT_BATCH = 5_000
RECORD_BATCH = 50_000  # a large batch's outcomes are recorded (one transaction) this many at a time


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

    def record_outcomes(self, run_id: str, outcomes: Sequence[Outcome], deferred: Sequence[Operation] = (),
                        spec: Optional[CatalogSpec] = None) -> None:
        """`spec` is given when outcomes carry write-backs for the catalog's rows (engine/write_back.py)."""


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
        for f in obj.outbound_fields:  # an inbound reference is resolved the other way (engine/inbound/rows.py)
            if f.references is None:
                continue
            ref = f.references
            # One query per object of the referenced rows: most references name one; a selecting one
            # (Reference.select) as many as its rows choose.
            chosen = [ref.object_for(row) if row.get(f.column) is not None else None for row in rows]
            found: dict[str, dict[str, str]] = {}
            for name in dict.fromkeys(c for c in chosen if c is not None):
                wanted = sorted({str(row[f.column]) for row, c in zip(rows, chosen) if c == name})
                found[name] = mappings.external_ids(ref.catalog, system, name, wanted)
            for index, row in enumerate(rows):
                value, name = row.get(f.column), chosen[index]
                target = resolved[index].setdefault(obj.name, {})
                target[f.target] = found[name].get(str(value)) if name is not None else None
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
        # The namespace of the idempotency keys, as the mapping store gives it (a tenant's store gives its tenant,
        # engine/keys.py): opaque here, so the engine stays tenant-free; a repository without one has none.
        self.key_scope: str = getattr(mappings, "key_scope", "")
        self.report = SyncReport()
        # Optional split of the counts by a row's group (e.g. its created-at month, for one materialization per
        # month with that month's own outcomes). Operations and outcomes carry their row's group; rows without
        # one (hard deletes) count in the total only.
        self.group_of = group_of
        self.groups: dict[str, SyncReport] = {}
        objects = spec.objects(system)
        self._objects = {obj.name: obj for obj in objects}
        self._order = [obj.name for obj in objects]
        self._steps = [(t, False) for t in self._order] + [(t, True) for t in reversed(self._order)]
        self._parents_of = {obj.name: obj.parents for obj in objects}
        # Objects whose new ids another object of the same row waits for (same_row fields, pointers): only their
        # ids are kept while a batch is applied.
        self._awaited = {f.same_row for obj in objects for f in obj.fields if f.same_row} | \
            {obj.pointed_by[0] for obj in objects if obj.pointed_by}
        # A streaming adapter takes a step's operations as an iterator and answers a chunk at a time, so a batch
        # can be spooled to disk and be as large as the run (one Bulk job per object, engine/batch.py).
        self._streams = callable(getattr(adapter, "apply_stream", None))
        # Settled rows (engine/settled.py): rows with an outcome that is not settled; digests ready to store.
        self._unsettled: set[str] = set()
        self._ready: dict[str, str] = {}
        # A partial update waits while the system changed one of its fields since the base, where the adapter can
        # tell: the inbound merge decides that field first (engine/overwrite.py).
        self._guard = OverwriteGuard(spec, system, adapter, partial(mappings.load_states, spec.name, system),
                                     self._unsettled.add)
        # Outcomes not recorded yet: local verdicts a few thousand at a time (no external write involved, so a
        # crash that loses some only means they are planned again), a batch's outcomes every RECORD_BATCH.
        self._verdicts: list[Outcome] = []
        self._done: list[Outcome] = []

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

    def _new_batch(self) -> MemoryBatch | SpooledBatch:
        record = partial(self.mappings.record_intents, self.run_id)
        return SpooledBatch(record) if self._streams else MemoryBatch(record)

    def _drive(self, planned: Iterable[tuple[list[Operation], dict[str, str]]]) -> SyncReport:
        """Apply planned operations in batches; counts add up when one SyncRun drives several passes."""
        started, calls_before = time.monotonic(), self.adapter.api_calls
        size = self.adapter.batch_size
        batch = self._new_batch()
        try:
            for operations, digests in planned:
                while len(batch) + len(operations) >= size:
                    cut = _row_boundary(operations, size - len(batch))
                    part, operations = operations[:cut], operations[cut:]
                    batch.add(part, _digests_of(part, digests))
                    self._apply(batch)
                    batch.close()
                    batch = self._new_batch()
                batch.add(operations, _digests_of(operations, digests))
            if len(batch):
                self._apply(batch)
            self._store_settled()
        except StopSync as stop:
            self._store_settled()  # rows finished before the stop are settled all the same
            self.report.stopped_reason = stop.reason
            if isinstance(stop, SystemUnavailable):
                self.report.outage = stop.reason
        finally:
            batch.close()
            self.report.api_calls += self.adapter.api_calls - calls_before
            self.report.seconds += time.monotonic() - started
        return self.report

    def _plan_deletes(self, ids: Sequence[str]) -> tuple[list[Operation], dict[str, str]]:
        states = self.mappings.load_states(self.spec.name, self.system, ids)
        operations: list[Operation] = []
        verdicts: list[Outcome] = []
        for internal_id in ids:
            row_states = {t: states[(internal_id, t)] for t in self._order if (internal_id, t) in states}
            plan = plan_delete(self.spec, self.system, internal_id, row_states, key_scope=self.key_scope)
            operations += plan.operations
            verdicts += plan.outcomes
            self.report.skipped += plan.skipped
        if verdicts:
            self._record(verdicts)
        return operations, {}

    def _plan_chunk(self, rows: Sequence[dict[str, Any]]) -> tuple[list[Operation], dict[str, str]]:
        """The chunk's operations, and the digests of the rows that have some (the others settle now)."""
        ids = [str(row[self.spec.primary_key]) for row in rows]
        digests = self._take_digests(ids, rows)
        states = self.mappings.load_states(self.spec.name, self.system, ids)
        references = _resolve_references(self.spec, self.system, rows, self.mappings)
        operations: list[Operation] = []
        verdicts: list[Outcome] = []
        for internal_id, row, refs in zip(ids, rows, references):
            row_states = {t: states[(internal_id, t)] for t in self._order if (internal_id, t) in states}
            group = self.group_of(row) if self.group_of is not None else None
            plan = plan_row(self.spec, self.system, row, row_states, refs, group, self.key_scope)
            operations += plan.operations
            verdicts += plan.outcomes
            self.report.skipped += plan.skipped
            if group is not None:
                self.group(group).skipped += plan.skipped
        self._hold_verdicts(verdicts)
        if digests:
            planned = {op.internal_id for op in operations}
            self._settle((i, d) for i, d in digests.items() if i not in planned)  # nothing to write: settled
            digests = {i: d for i, d in digests.items() if i in planned}
        return operations, digests

    def _take_digests(self, ids: Sequence[str], rows: Sequence[dict[str, Any]]) -> dict[str, str]:
        """Take the digests a catalog source attached (engine/settled.py) off the rows before planning. A row
        read despite a stored digest changed: that digest is forgotten before any of the row's writes, so a row
        that changes back while its write is in doubt is planned, not skipped."""
        stale, digests = [], {}
        for internal_id, row in zip(ids, rows):
            digest = row.pop(DIGEST, None)
            if row.pop(HAD_DIGEST, False):
                stale.append(internal_id)
            if digest is not None:
                digests[internal_id] = digest
        if stale:
            self.mappings.unsettle(self.spec.name, self.system, stale)
        return digests

    def _settle(self, digests: Iterable[tuple[str, str]]) -> None:
        """Rows whose every object got its outcome this run: keep their digests unless one was not settled."""
        for internal_id, digest in digests:
            if internal_id not in self._unsettled:
                self._ready[internal_id] = digest
                if len(self._ready) >= SETTLE_BATCH:
                    self._store_settled()

    def _hold_verdicts(self, verdicts: Sequence[Outcome]) -> None:
        for verdict in verdicts:
            if verdict.status not in SETTLED_STATUSES:
                self._unsettled.add(verdict.internal_id)  # now: the row may be settled before they are recorded
        self._verdicts += verdicts
        if len(self._verdicts) >= VERDICT_BATCH:
            self._record_verdicts()

    def _record_verdicts(self) -> None:
        if self._verdicts:
            self._record(self._verdicts)
            self._verdicts = []

    def _store_settled(self) -> None:
        self._record_verdicts()  # a digest is stored only once its row's verdicts are
        if self._ready:
            self.mappings.settle(self.spec.name, self.system, self._ready)
            self._ready = {}

    def _apply(self, batch: MemoryBatch | SpooledBatch) -> None:
        """Apply one batch object type by object type, parents before children and children before deletes."""
        batch.seal()  # every intent is committed before the first external call
        failed_parents: dict[tuple[str, str], str] = {}
        written: dict[tuple[str, str], str] = {}  # (row, object) -> external id, for same-row ids (same_row.py)
        for index, step in enumerate(self._steps):
            try:
                self._step(batch, step, failed_parents, written)
            except StopSync as stop:
                self._flush(stop.outcomes)
                for deferred in self._unanswered(batch, self._steps[index:]):
                    self._record((), deferred)
                raise
        self._flush()
        self._settle(batch.digests())

    def _step(self, batch: MemoryBatch | SpooledBatch, step: tuple[str, bool],
              failed_parents: dict[tuple[str, str], str], written: dict[tuple[str, str], str]) -> None:
        object_type = step[0]
        count = batch.count(step)
        if not count:
            return
        keep_ids = object_type in self._awaited
        sent = 0

        def ready() -> Iterator[Operation]:
            nonlocal sent
            resolving = (self._blocked(op, failed_parents) or resolve_one(self.spec, op, written, self.key_scope)
                         for op in batch.ops(step))
            for resolved in self._guard.screen(object_type, resolving):
                if isinstance(resolved, Outcome) and resolved.status == WAITING:  # held back, never attempted
                    self._hold(resolved)
                elif isinstance(resolved, Outcome):  # answered by the guard: a failed one holds back children
                    take(resolved)
                else:
                    sent += 1
                    yield resolved

        def take(outcome: Outcome) -> None:
            if not outcome.ok:
                failed_parents[(outcome.internal_id, object_type)] = outcome.error_message or "failed"
            elif keep_ids and outcome.external_id is not None:
                written[(outcome.internal_id, object_type)] = outcome.external_id
            self._hold(outcome)

        answered = 0
        try:
            for outcome in self._send(ready(), count):
                answered += 1
                take(outcome)
        except _StreamBroke as broke:  # a bug or an SDK surprise fails the step's unanswered rows, not the run
            self._flush()
            for unanswered in self._unanswered(batch, [step]):
                for failure in batch_failures(unanswered, broke.error):
                    take(failure)
            return
        assert answered == sent, "an adapter must answer every operation"

    def _send(self, ready: Iterator[Operation], count: int) -> Iterator[Outcome]:
        """The adapter's outcomes for one step's ready operations: all at once, or streamed chunk by chunk."""
        if not self._streams:
            ops = list(ready)
            if ops:
                outcomes = self._call_adapter(ops)
                assert len(outcomes) == len(ops), "an adapter must answer every operation"
                # What the system's answers carry of the values it decides goes to the rows (engine/write_back.py).
                yield from (o if o.returned is None else take_back(self.spec, self._objects[op.object_type], op, o)
                            for op, o in zip(ops, outcomes))
            return
        try:
            for outcomes in self.adapter.apply_stream(ready, count):
                yield from outcomes
        except StopSync:
            raise
        except Exception as error:
            if is_outage(self.adapter, error):
                raise
            raise _StreamBroke(error) from error

    def _unanswered(self, batch: MemoryBatch | SpooledBatch,
                    steps: Sequence[tuple[str, bool]]) -> Iterator[list[Operation]]:
        """Operations of `steps` still pending after a stop, a block at a time: every outcome is recorded by
        then, so the mapping table, not a per-row set in memory, tells which ones were answered."""
        for step in steps:
            block: list[Operation] = []
            for op in itertools.chain(batch.ops(step), [None]):
                if op is not None:
                    block.append(op)
                if block and (op is None or len(block) >= RECORD_BATCH):
                    states = self.mappings.load_states(self.spec.name, self.system, [o.internal_id for o in block])
                    left = [o for o in block if getattr(states.get((o.internal_id, o.object_type)), "status",
                                                        PENDING) == PENDING]
                    if left:
                        yield left
                    block = []

    def _hold(self, outcome: Outcome) -> None:
        self._done.append(outcome)
        if len(self._done) >= RECORD_BATCH:
            self._flush()

    def _flush(self, more: Sequence[Outcome] = ()) -> None:
        if self._done or more:
            done, self._done = self._done + list(more), []
            self._record(done)

    def _call_adapter(self, ready: list[Operation]) -> list[Outcome]:
        try:
            return self.adapter.apply(ready)
        except StopSync:
            raise
        except Exception as error:  # a bug or an SDK surprise fails these rows, not the step (engine/failures.py)
            if is_outage(self.adapter, error):
                raise
            return batch_failures(ready, error)

    def _blocked(self, op: Operation, failed_parents: dict[tuple[str, str], str]) -> Optional[Outcome]:
        """The waiting outcome of an operation whose parent object of the same row failed in this batch."""
        if op.action == DELETE or not failed_parents:
            return None
        for parent in self._parents_of.get(op.object_type, ()):
            reason = failed_parents.get((op.internal_id, parent))
            if reason is not None:
                return Outcome.of(op, WAITING, error_code="parent_failed",
                                  error_message=f"waiting for {parent}: {reason}")
        return None

    def group(self, name: str) -> SyncReport:
        return self.groups.setdefault(name, SyncReport())

    def _record(self, outcomes: Sequence[Outcome], deferred: Sequence[Operation] = ()) -> None:
        """Record and count outcomes, each also in its row's group."""
        if any(outcome.write_back is not None for outcome in outcomes):
            # The catalog rows take their write-backs in the transaction that records the outcomes.
            self.mappings.record_outcomes(self.run_id, outcomes, deferred, spec=self.spec)
        else:
            self.mappings.record_outcomes(self.run_id, outcomes, deferred)
        for outcome in outcomes:
            if outcome.status not in SETTLED_STATUSES:
                self._unsettled.add(outcome.internal_id)
            self.report.count(outcome)
            if outcome.group is not None:
                self.group(outcome.group).count(outcome)
        self.report.deferred += len(deferred)
        for op in deferred:
            self._unsettled.add(op.internal_id)
            if op.group is not None:
                self.group(op.group).deferred += 1


class _StreamBroke(Exception):
    """A streaming adapter failed part-way with an error that is not an outage (engine/failures.py)."""

    def __init__(self, error: Exception):
        super().__init__(str(error))
        self.error = error


def _digests_of(ops: Sequence[Operation], digests: dict[str, str]) -> dict[str, str]:
    """The digests of the rows `ops` belong to (all of the chunk's when `ops` is the whole chunk)."""
    if not digests:
        return {}
    ids = {op.internal_id for op in ops}
    return digests if len(ids) >= len(digests) and ids.issuperset(digests) else \
        {i: d for i, d in digests.items() if i in ids}


def sync(spec: CatalogSpec, system: str, source: CatalogSource, mappings: MappingRepository,
         adapter: SystemAdapter, run_id: str, selection: Selection = Selection(), chunk_size: int = 1000) -> SyncReport:
    return SyncRun(spec, system, source, mappings, adapter, run_id, chunk_size).run(selection)
