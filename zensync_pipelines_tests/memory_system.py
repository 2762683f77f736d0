"""A test-only external system kept in memory, with the behaviours the engine must survive.

It honours idempotency keys like Stripe (a repeated key returns the first answer) and can reject rows,
simulate a crash after its write landed, or stop the run the way a spent API budget does.
"""

from __future__ import annotations

import itertools
from typing import Any, Iterable, Iterator, Optional, Sequence

from zensync_pipelines.engine.sync import StopSync
from zensync_pipelines.engine.types import CREATE, DELETE, DELETED, SYNCED, Operation, Outcome
from zensync_pipelines.systems.base import SystemAdapter


class SimulatedCrash(BaseException):
    """The process died after the external write and before zensync recorded it."""
    # A BaseException, like the SystemExit of a killed process: no handler in the engine can swallow it.


class MemorySystem(SystemAdapter):
    name = "memory"

    def __init__(self, batch_size: int = 100):
        super().__init__()
        self.batch_size = batch_size
        self.objects: dict[str, dict[str, dict[str, Any]]] = {}
        self.answers: dict[str, str] = {}  # idempotency key -> external id first answered
        self.writes: list[tuple[str, str, str]] = []  # (action, object_type, internal_id)
        self.reject: dict[str, tuple[str, str, Optional[str]]] = {}  # internal id -> (code, message, field)
        self.crash_after_writes: Optional[int] = None
        self.stop_after_writes: Optional[int] = None
        self._ids = itertools.count(1)

    def live(self, object_type: str) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.objects.get(object_type, {}).items() if not v.get("deleted")}

    def apply(self, operations: Sequence[Operation]) -> list[Outcome]:
        outcomes = []
        for op in operations:
            if self.stop_after_writes is not None and len(self.writes) >= self.stop_after_writes:
                raise StopSync("budget spent", outcomes)
            outcomes.append(self._apply_one(op))
            if self.crash_after_writes is not None and len(self.writes) >= self.crash_after_writes:
                self.crash_after_writes = None
                raise SimulatedCrash(f"crashed after {len(self.writes)} writes")
        return outcomes

    def streaming_apply(self, operations: Iterable[Operation], expected: int) -> Iterator[list[Outcome]]:
        """The streaming twin of `apply` (as a bulk API answers): it takes an iterator and answers three
        operations at a time, each chunk's outcomes in reverse order, since a bulk job's results come in any order.
        Tests switch it on as `apply_stream`, which makes the engine spool its batches (engine/batch.py)."""
        pending = iter(operations)
        while chunk := list(itertools.islice(pending, 3)):
            yield self.apply(chunk)[::-1]

    def _apply_one(self, op: Operation) -> Outcome:
        self.count_call()
        if op.internal_id in self.reject:
            code, message, field = self.reject[op.internal_id]
            return self.failure(op, code, message, field)
        store = self.objects.setdefault(op.system_type, {})
        if op.action == DELETE:
            store[op.external_id]["deleted"] = True
            self.writes.append((op.action, op.object_type, op.internal_id))
            return Outcome.of(op, DELETED)
        if op.action == CREATE:
            if op.idempotency_key in self.answers:  # replay: nothing new is written
                return Outcome.of(op, SYNCED, external_id=self.answers[op.idempotency_key])
            external_id = f"mem_{next(self._ids)}"
            self.answers[op.idempotency_key] = external_id
        else:
            external_id = op.external_id
        store[external_id] = {**store.get(external_id, {}), **op.payload, "zenskar_id": op.internal_id}  # a patch
        self.writes.append((op.action, op.object_type, op.internal_id))
        return Outcome.of(op, SYNCED, external_id=external_id)


class ListSource:
    """Catalog rows from a list, for engine tests that need no catalog table."""

    def __init__(self, rows: list[dict[str, Any]]):
        self.rows = rows

    def iter_chunks(self, spec, selection, chunk_size):  # noqa: ANN001
        rows = [r for r in self.rows if selection.ids is None or str(r[spec.primary_key]) in selection.ids]
        for start in range(0, len(rows), chunk_size):
            yield rows[start:start + chunk_size]
