"""Values that flow between the engine, the store and the system adapters."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

# Mapping statuses. "pending" is an intent recorded before an external write whose outcome is not known yet.
PENDING, SYNCED, FAILED, DELETED, INVALID, WAITING = "pending", "synced", "failed", "deleted", "invalid", "waiting"
# The object was deleted on the system's side and the inbound policy says to leave the row alone there.
UNLINKED = "unlinked"
CREATE, UPDATE, DELETE = "create", "update", "delete"
# Create a new object in place of the row's current one (a create-only field changed), then retire the old one.
REPLACE = "replace"


@dataclass(frozen=True)
class Pointer:
    """A field of another object of the same row that must point at this object, e.g. a product's
    `default_price`: moved to the new object after a create or replace, cleared before a retire."""

    object_name: str  # the pointing object's name in the spec
    object_type: str  # ... and its type in the system
    field: str
    external_id: Optional[str]  # None until that object's id is known (created earlier in the same batch)
    external_id_field: Optional[str] = None  # the pointing object's own tag field, kept when it is updated


@dataclass(frozen=True)
class MappingState:
    """What zensync last knew of one (row, system, object type)."""

    external_id: Optional[str]
    fingerprint: Optional[str]
    status: str
    attempts: int = 0
    write_seq: int = 0  # the last write intent's sequence number (engine/keys.py)
    # The last synced value of each outbound field, by target, as JSON text (engine/merge.py; parsed only where
    # used); None until the object's first write or merge since the base came, and for objects with no two-way
    # field.
    base: Optional[str] = None
    # The base the update in flight leaves once confirmed (Operation.pending), recorded with its intent: the values
    # a write killed before its bookkeeping may have set, zensync's own for the merge; None when none is in flight.
    pending_base: Optional[str] = None


@dataclass(frozen=True, slots=True)  # slots: a Bulk batch holds 10^5 of them, each a few hundred bytes lighter
class Operation:
    """One planned external write."""

    catalog: str
    system: str
    object_type: str
    internal_id: str
    action: str  # create | update | delete
    payload: dict[str, Any]
    fingerprint: str
    external_id: Optional[str]
    idempotency_key: str
    external_id_field: Optional[str] = None
    attempt: int = 1  # 1 for a first try; earlier failed attempts of the same row and object add to it
    # An earlier attempt may have reached the system without its result being recorded: look before creating.
    recovering: bool = False
    # The object's type in the system when the spec names it otherwise (several objects of one type per row).
    resource_type: Optional[str] = None
    # Payload fields to fill, just before sending, with the external id of another object of the same row written
    # earlier in this batch: (target field, that object's name). Resolved by the engine (engine/same_row.py).
    awaiting: tuple[tuple[str, str], ...] = ()
    pointer: Optional[Pointer] = None
    # On create: adopt an existing object whose field of this name has the payload's value instead of creating.
    lookup: Optional[str] = None
    # The row's group in the run's counts (its created-at month), carried to the outcome: a batch spooled to disk
    # keeps no per-row lookup of it in memory.
    group: Optional[str] = None
    # The write intent's number in its mapping row's sequence, recorded with the intent; part of the key.
    seq: int = 1
    # The base the mapping keeps once this write is confirmed (JSON text, engine/merge.py); None: keep none.
    base: Optional[str] = None
    # An update of a merged object: the payload's top-level keys whose catalog value moved since the base, the
    # only ones to send (the system's own edits of the others stay). None: send the whole payload. The payload
    # stays whole, for adapters that diff against the object themselves (Stripe invoices) and for the fingerprint.
    fields: Optional[tuple[str, ...]] = None
    # The row's cursor and its values of the columns the system owns (engine/write_back.py), as planned: what the
    # system's answer to this write is compared with. None: the object has no field the system owns.
    seen: Optional[dict[str, Any]] = None
    # A replacement's: the fingerprint of the object it replaces (its create-only half tells what that object was).
    replaced: Optional[str] = None

    @property
    def system_type(self) -> str:
        return self.resource_type or self.object_type

    @property
    def pending(self) -> Optional[str]:
        """What the intent records of the values it writes (MappingState.pending_base): the base an update leaves.
        A create needs none: until its outcome is recorded no base exists for a merge to judge against."""
        return self.base if self.action == UPDATE else None

    @property
    def sent(self) -> dict[str, Any]:
        """What an update writes: the changed fields only, when the plan says which."""
        if self.fields is None:
            return self.payload
        return {key: self.payload[key] for key in self.fields if key in self.payload}


@dataclass(frozen=True)
class WriteBack:
    """Values the system decided, for the catalog row, taken from its answer to zensync's write: written with the
    outcome, and only while the row's cursor is still `cursor`, the one the write was planned from."""

    values: dict[str, Any]  # column -> catalog value (the cursor column's new value included, where it moves)
    cursor: Any


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one (row, object type) in a run: an applied operation or a local verdict."""

    catalog: str
    system: str
    object_type: str
    internal_id: str
    action: str
    status: str  # synced | deleted | failed | invalid | waiting
    external_id: Optional[str] = None
    fingerprint: Optional[str] = None
    error_code: Optional[str] = None
    error_field: Optional[str] = None
    error_message: Optional[str] = None
    attempt: int = 1
    # A failure a later attempt may not meet (5xx, dropped connection, lock, rate limit): retried automatically
    # with backoff. Any other failure (invalid data, a validation rule) waits for its row to change.
    transient: bool = False
    group: Optional[str] = None  # the row's group in the run's counts (Operation.group)
    base: Optional[str] = None  # Operation.base, for a confirmed write
    # An update held back without a call because the system changed one of its fields (engine/overwrite.py):
    # bookkept like a write of the base, counted apart, since nothing was updated.
    held: bool = False
    # The object as the system answered the write, where the answer carries it at no cost (Stripe): for the
    # engine only, which turns it into `write_back` before the outcome is recorded (engine/write_back.py).
    returned: Optional[Mapping[str, Any]] = None
    write_back: Optional["WriteBack"] = None

    @property
    def ok(self) -> bool:
        return self.status in (SYNCED, DELETED)

    @classmethod
    def of(cls, op: Operation, status: str, **details: Any) -> "Outcome":
        details.setdefault("external_id", op.external_id)
        details.setdefault("fingerprint", op.fingerprint if status in (SYNCED, DELETED) else None)
        details.setdefault("attempt", op.attempt)
        details.setdefault("group", op.group)
        details.setdefault("base", op.base if status == SYNCED else None)
        return cls(op.catalog, op.system, op.object_type, op.internal_id, op.action, status, **details)


@dataclass
class SyncReport:
    """Counts of one sync run, reported as materialization metadata."""

    created: int = 0
    updated: int = 0
    deleted: int = 0
    skipped: int = 0
    failed: int = 0
    waiting: int = 0
    deferred: int = 0
    held: int = 0
    api_calls: int = 0
    seconds: float = 0.0
    stopped_reason: Optional[str] = None
    # Set when the run stopped because the system is down or refuses zensync (circuit breaker): the run fails.
    outage: Optional[str] = None
    failures: list[Outcome] = field(default_factory=list)

    MAX_FAILURES_KEPT = 100

    def count(self, outcome: Outcome) -> None:
        if outcome.ok and outcome.action == DELETE and outcome.external_id is None:
            self.skipped += 1  # a row retired locally: no external object existed, no API call was made
            return
        if outcome.ok and outcome.held:
            self.held += 1
            return
        if outcome.ok:
            attr = {"create": "created", "update": "updated", "replace": "updated", "delete": "deleted"}[outcome.action]
            setattr(self, attr, getattr(self, attr) + 1)
            return
        if outcome.status == WAITING:
            self.waiting += 1
        else:
            self.failed += 1
        if len(self.failures) < self.MAX_FAILURES_KEPT:
            self.failures.append(outcome)

    def counts(self) -> dict[str, Any]:
        names = ("created", "updated", "deleted", "skipped", "failed", "waiting", "deferred", "held", "api_calls")
        return {name: getattr(self, name) for name in names} | {"seconds": round(self.seconds, 3)}
