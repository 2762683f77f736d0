"""One batch's planned operations, by step, from planning until they are applied.

A batch for a per-record API (Stripe: 100 operations) stays in memory. A batch for a bulk API is as large as the
run, so that each object gets one job: it is spooled to disk, one file per step, in pickled blocks, and the run's
memory no longer grows with its rows (docs/performance.md section 6). Anonymous temporary files: nothing is left
behind, not even after a `kill -9`.

Either way every operation's intent is committed before the batch is applied (`seal`). A spooled batch commits
them block by block from its files once planning is done, not while it plans: written between the state reads of
a first load, they made PostgreSQL's plan for those reads a scan of the growing table (100,000 rows: state reads
0.4 -> 1.0 s).
"""

from __future__ import annotations

import collections
import pickle
import tempfile
from operator import attrgetter
from typing import IO, Any, Callable, Iterator, Sequence

from .types import DELETE, Operation

Step = tuple[str, bool]  # (object name, deleting)
BLOCK = 10_000  # operations per spooled block: one pickle per step, one intent transaction when sealed
RecordIntents = Callable[[Sequence[Operation]], None]
# Operations are pickled as plain tuples of their fields: pickling the frozen dataclass itself goes through
# Python-level state functions per object and cost twice as much (100,000 operations: 0.94 s against ~0.45 s).
FIELDS = attrgetter(*Operation.__slots__)
# What an intent records of an operation, spooled apart from the operations so sealing reads only this, and
# commits it INTENTS at a time (record_intents reads these fields, nothing else; `seq` is the write sequence
# number the intent's idempotency key derives from, engine/keys.py; `pending` the values an update writes, None
# for creates, so a first load spools no more than before).
Intent = collections.namedtuple("Intent", "catalog system object_type internal_id external_id seq pending")
INTENT_FIELDS = attrgetter(*Intent._fields)
INTENTS = 50_000  # intents per transaction when a spooled batch is sealed (five short strings and a number each)


def step_of(op: Operation) -> Step:
    return op.object_type, op.action == DELETE


class MemoryBatch:
    def __init__(self, record_intents: RecordIntents):
        self._record_intents = record_intents
        self._ops: list[Operation] = []
        self._digests: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._ops)

    def add(self, ops: Sequence[Operation], digests: dict[str, str]) -> None:
        """Operations of whole rows, with the digests of those rows (engine/settled.py) to store once applied."""
        self._ops += ops
        self._digests.update(digests)

    def seal(self) -> None:
        self._record_intents(self._ops)

    def count(self, step: Step) -> int:
        return sum(1 for op in self._ops if step_of(op) == step)

    def ops(self, step: Step) -> Iterator[Operation]:
        return (op for op in self._ops if step_of(op) == step)

    def digests(self) -> Iterator[tuple[str, str]]:
        return iter(self._digests.items())

    def close(self) -> None:
        self._ops, self._digests = [], {}


class SpooledBatch:
    def __init__(self, record_intents: RecordIntents):
        self._record_intents = record_intents
        self._buffer: list[Operation] = []
        self._digest_buffer: list[tuple[str, str]] = []
        self._files: dict[Step, IO[bytes]] = {}
        self._counts: dict[Step, int] = {}
        self._digest_file: IO[bytes] | None = None
        self._intent_file = spool_file("intents")
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def add(self, ops: Sequence[Operation], digests: dict[str, str]) -> None:
        self._buffer += ops
        self._digest_buffer += digests.items()
        self._size += len(ops)
        if len(self._buffer) >= BLOCK:
            self._spill()

    def seal(self) -> None:
        """Commit every operation's intent, a block at a time, before the batch can reach any system."""
        self._spill()
        intents: list[Intent] = []
        for block in read_blocks(self._intent_file):
            intents += map(Intent._make, block)
            if len(intents) >= INTENTS:
                self._record_intents(intents)
                intents = []
        if intents:
            self._record_intents(intents)

    def _spill(self) -> None:
        if self._buffer:
            write_block(self._intent_file, list(map(INTENT_FIELDS, self._buffer)))
            by_step: dict[Step, list[Operation]] = {}
            for op in self._buffer:
                by_step.setdefault(step_of(op), []).append(op)
            for step, ops in by_step.items():
                if step not in self._files:
                    self._files[step] = spool_file("batch")
                write_block(self._files[step], list(map(FIELDS, ops)))
                self._counts[step] = self._counts.get(step, 0) + len(ops)
            self._buffer = []
        if self._digest_buffer:
            if self._digest_file is None:
                self._digest_file = spool_file("digests")
            write_block(self._digest_file, self._digest_buffer)
            self._digest_buffer = []

    def count(self, step: Step) -> int:
        return self._counts.get(step, 0)

    def ops(self, step: Step) -> Iterator[Operation]:
        file = self._files.get(step)
        if file is not None:
            for block in read_blocks(file):
                for fields in block:
                    yield Operation(*fields)

    def digests(self) -> Iterator[tuple[str, str]]:
        if self._digest_file is not None:
            for block in read_blocks(self._digest_file):
                yield from block

    def close(self) -> None:
        for file in [*self._files.values(), self._digest_file, self._intent_file]:
            if file is not None:
                file.close()
        self._files, self._digest_file, self._buffer, self._digest_buffer = {}, None, [], []


def spool_file(prefix: str) -> IO[bytes]:
    """An anonymous temporary file (unlinked at once): nothing is left behind, even by a killed process."""
    return tempfile.TemporaryFile(prefix=f"zensync-{prefix}-")


def write_block(file: IO[bytes], items: list[Any]) -> None:
    pickle.dump(items, file, protocol=pickle.HIGHEST_PROTOCOL)


def read_blocks(file: IO[bytes]) -> Iterator[list[Any]]:
    """Every block `write_block` put in `file`, from the start; a spool is written only before it is read."""
    file.flush()
    file.seek(0)
    while True:
        try:
            yield pickle.load(file)
        except EOFError:
            return
