"""What every system adapter shares: call counting, retries, and turning errors into per-row outcomes.

Limits are each adapter's own business, sized where they bite: the Stripe adapter's token bucket and worker pool
from its rate limit, the Salesforce adapter's budget from the org's daily allocation, and every adapter's
`batch_size` (how many operations the engine hands it at once) from the records one call can carry.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable, ClassVar, Optional, Sequence, TypeVar

from ..engine.sync import SystemUnavailable
from ..engine.types import FAILED, Operation, Outcome


T = TypeVar("T")


@dataclass(frozen=True)
class Backoff:
    """Bounded exponential backoff with jitter, for faults that a later attempt may not meet (5xx, locks, drops).

    Jitter spreads retries of parallel workers so they do not hit a locked row or a recovering server together;
    the bound keeps a broken system from holding a run forever.
    """

    retries: int = 4
    base_seconds: float = 0.5
    max_seconds: float = 8.0

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number `attempt + 1` (attempt counts from 0)."""
        return min(self.max_seconds, self.base_seconds * 2 ** attempt) * (0.5 + random.random() / 2)

    def run(self, fn: Callable[[], T], retryable: Callable[[Exception], bool],
            sleep: Callable[[float], None] = time.sleep) -> T:
        """Call `fn` until it returns, a non-retryable error escapes, or the retries are spent (then re-raise)."""
        for attempt in range(self.retries + 1):
            try:
                return fn()
            except Exception as error:
                if attempt == self.retries or not retryable(error):
                    raise
                sleep(self.delay(attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")


class CircuitBreaker:
    """Per run and system: opens after `threshold` consecutive calls end in an outage (unreachable, 5xx), each
    after its own retries, or at once when the system refuses the credentials. Once open, every further call is
    refused without reaching the system, and the run stops with `SystemUnavailable` (docs/reliability.md).

    A success closes the count again: scattered faults under load are per-row transient failures, retried later;
    only a run of them means the system, not the rows, is the problem.
    """

    def __init__(self, system: str, threshold: int):
        self.system, self.threshold = system, threshold
        self.reason: Optional[str] = None
        self._consecutive = 0
        self._lock = threading.Lock()

    @property
    def open(self) -> bool:
        return self.reason is not None

    def success(self) -> None:
        with self._lock:
            self._consecutive = 0

    def outage(self, description: str) -> None:
        """Count one call that ended in an outage; opens the breaker when the run of them is long enough."""
        description = " ".join(description.split())  # one line: it leads the run's log and its metadata
        with self._lock:
            self._consecutive += 1
            if self._consecutive >= self.threshold and self.reason is None:
                self.reason = (f"{self.system} unavailable: {self._consecutive} consecutive calls failed, the last "
                               f"with {description}; the run stopped, untouched rows wait for the next run")

    def trip(self, reason: str) -> None:
        with self._lock:
            if self.reason is None:
                self.reason = reason

    def check(self, finished: Sequence[Outcome] = ()) -> None:
        """Raise SystemUnavailable (with the outcomes that finished) when the breaker is open."""
        if self.reason is not None:
            raise SystemUnavailable(self.reason, finished)


class SystemAdapter(ABC):
    """Apply batches of planned operations to one external system.

    `apply` answers every operation with one Outcome, in order, and never raises for a single row's failure;
    it raises only when the whole run must stop (then `engine.sync.StopSync` keeps what was finished).

    A system with a bulk API may also define `apply_stream(operations, expected)`: one object's operations of a
    batch as an iterator (about `expected` of them), answered by yielding lists of outcomes, in any order, one
    per operation. The engine then spools its batches to disk (engine/batch.py), so a batch can be as large as
    a run in flat memory (Salesforce's Bulk 2.0 path).
    """

    name: ClassVar[str]
    batch_size: int = 100
    # SDK exceptions from `apply` that mean the system is down or refuses us (fail the run), beside every OSError
    # and engine.failures.Outage; any other unexpected exception fails only that call's operations.
    outage_errors: ClassVar[tuple[type[BaseException], ...]] = ()

    def __init__(self) -> None:
        self._api_calls = 0
        self._calls_lock = threading.Lock()

    @property
    def api_calls(self) -> int:
        return self._api_calls

    def count_call(self, calls: int = 1) -> None:
        with self._calls_lock:
            self._api_calls += calls

    @abstractmethod
    def apply(self, operations: Sequence[Operation]) -> list[Outcome]: ...

    @staticmethod
    def failure(op: Operation, code: Optional[str], message: str, field: Optional[str] = None,
                transient: bool = False) -> Outcome:
        return Outcome.of(op, FAILED, error_code=code or "error", error_field=field, error_message=message,
                          transient=transient)


@dataclass(frozen=True)
class ExternalChange:
    """One change the system reports for one of its objects, oldest first in a list of them."""

    object_type: str
    external_id: str
    kind: str  # created | updated | deleted
    occurred_at: dt.datetime
    internal_id: Optional[str] = None  # the catalog row, when the object carries zensync's tag
    fields: dict[str, Any] = field(default_factory=dict)


class ReadsChanges(ABC):
    """A system whose changes zensync can read back (for inbound sync and drift checks).

    Not part of `SystemAdapter`: Salesforce cannot implement it. SOQL and /updated report each record's latest
    state, not every change (a create then an update is one record), so it reads changes its own way
    (`systems/salesforce/changes.py`, `polling.py`); an interface method a system only pretends to implement is
    worse than none.
    """

    @abstractmethod
    def read_changes(self, object_type: str, since: dt.datetime) -> list[ExternalChange]:
        """Changes to `object_type` objects at or after `since`, oldest first, every one of them (paged)."""
