"""What a resource handler sees: the decoded call, the knobs, per-object write locks and a way to emit events."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Callable, Iterator, Optional

from ..core import Knobs, Request
from .errors import lock_timeout
from .forms import Params

FAULT_KINDS = ("api_error", "rate_limit", "drop", "drop_after")


@dataclass
class StripeKnobs(Knobs):
    """Stripe-specific behaviour on top of the shared knobs; all of it changeable at run time."""

    rate_limit: Optional[float] = 25.0  # Stripe's test-mode limit
    search_lag_seconds: float = 0.0  # an object becomes searchable this long after each write
    # What an injected fault turns into: a stored 500, an unstored 429, a connection dropped before the endpoint
    # runs, or dropped after it ran and saved its result (the case that tests idempotent retries).
    fault_kinds: tuple[str, ...] = FAULT_KINDS
    lock_wait_ms: float = 500.0  # how long a second writer waits for an object's lock before 429 lock_timeout
    write_hold_ms: float = 0.0  # how long each write holds its object's lock (simulates a slow write)
    webhook_retry_base: float = 1.0  # seconds before the first redelivery; doubles per attempt
    webhook_max_attempts: int = 5
    webhook_timeout: float = 5.0
    webhook_duplicate_rate: float = 0.0  # probability that a delivered event is delivered a second time
    webhook_out_of_order: bool = False  # deliver queued events in a seeded random order instead of oldest first
    webhook_paused: bool = False  # hold deliveries in the queue (lets a test pile events up, then release them)
    webhook_delay: float = 0.0  # seconds between an event and its first delivery attempt
    # Probability that an attempt is lost on the way (the receiver never sees it) and retried with backoff.
    webhook_failure_rate: float = 0.0
    webhook_concurrency: int = 1  # delivery threads, fixed when the sandbox starts; 1 keeps the seeded order


@dataclass
class Call:
    request: Request
    raw: dict[str, Any]
    request_id: str
    idempotency_key: Optional[str] = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return self.request.params["id"]

    def params(self, allow: tuple[str, ...] | list[str] | set[str] = ()) -> Params:
        return Params(self.raw, allow)

    @property
    def origin(self) -> dict[str, Optional[str]]:
        """The `request` field of the events this call causes."""
        return {"id": self.request_id, "idempotency_key": self.idempotency_key}


class ObjectLocks:
    """Stripe serialises writes per object; a writer that cannot get the lock soon enough gets `lock_timeout`."""

    def __init__(self) -> None:
        self._locks: defaultdict[str, threading.Lock] = defaultdict(threading.Lock)
        self._guard = threading.Lock()

    @contextmanager
    def hold(self, ids: list[str], wait_seconds: float, hold_seconds: float) -> Iterator[None]:
        taken: list[threading.Lock] = []
        try:
            for object_id in sorted(set(ids)):  # a fixed order so two multi-object writes cannot deadlock
                with self._guard:
                    lock = self._locks[object_id]
                if not lock.acquire(timeout=wait_seconds):
                    raise lock_timeout(object_id)
                taken.append(lock)
            if taken and hold_seconds > 0:
                time.sleep(hold_seconds)
            yield
        finally:
            for lock in reversed(taken):
                lock.release()


Route = Callable[[Call], Any]
LockTargets = Callable[[Call], list[str]]
