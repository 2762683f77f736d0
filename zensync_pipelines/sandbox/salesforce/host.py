"""What the route modules (rest, query, collections, composite, bulk, bulk_jobs, outbound) use of the sandbox,
named here so that none of them imports server.py, which builds them: server.py -> routes -> host.py, never back.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Optional, Protocol

from ..core import Knobs, Request, Response, Router
from .limits import DailyAllocation
from .orgs import Orgs
from .schema import Schema
from .store import Store
from .writes import Writer


@dataclass
class SalesforceKnobs(Knobs):
    daily_api_limit: int = 15000
    bulk_processing_seconds: float = 0.0
    # Which faults `fault_rate` may pick: a whole request fails (500 / dropped socket) or one record inside a
    # Collections or Bulk request fails with UNABLE_TO_LOCK_ROW. `drop_after` (opt-in) lets a write land and then
    # closes the socket: the lost-reply case a client must heal by upserting again, not creating twice.
    fault_kinds: tuple[str, ...] = ("server_error", "drop", "lock_row")
    # Outbound messages (see outbound.py): Salesforce's retry schedule by default, milliseconds in tests.
    outbound_base_delay: float = 30.0
    outbound_max_delay: float = 7200.0
    outbound_max_age: float = 86400.0  # a notification not acknowledged within a day is dropped
    outbound_timeout: float = 10.0  # seconds the org waits for an answer
    outbound_duplicate_rate: float = 0.0  # chance an acknowledged notification is delivered once more
    outbound_drop_ack_rate: float = 0.0  # chance an Ack is lost, so the whole message is resent
    outbound_reorder: bool = False  # deliver queued notifications in random order
    outbound_paused: bool = False  # hold delivery (notifications keep queueing)


class BulkCounter(Protocol):
    def batches_today(self) -> int: ...


class SalesforceHost(Protocol):
    """The SalesforceSandbox as its route modules see it."""

    knobs: SalesforceKnobs
    router: Router
    orgs: Orgs
    clock: Callable[[], float]
    schema: Schema
    store: Store  # store, writer and allocation: those of the org the current request acts in
    writer: Writer
    allocation: DailyAllocation
    bulk: BulkCounter

    @property
    def url(self) -> str: ...

    def chance(self, rate: float) -> bool: ...

    def shuffled(self, items: list[Any]) -> list[Any]: ...

    def record_fault(self, record_id: Optional[str] = None) -> bool: ...

    def handle_error(self, request: Request, error: Exception) -> Response: ...
