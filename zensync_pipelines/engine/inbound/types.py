"""Values of the inbound side: a change a system reported, what became of it, and the run's report."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any, Mapping, Optional, Protocol

UPSERT, REMOVE = "upsert", "delete"

# Event outcomes, as stored in the inbox's `outcome` column and counted in the report.
APPLIED = "applied"  # the catalog took (some of) the change
UNCHANGED = "unchanged"  # the catalog already holds these values
ECHO = "echo"  # caused by zensync's own write: never written back
STALE = "stale"  # older than a change already applied (or superseded in the same batch, or the object is deleted)
CONFLICT_LOST = "conflict_lost"  # every changed field lost its conflict rule to the catalog
UNTRACKED = "untracked"  # an object zensync neither created nor imports
UNLINKED_OBJECT = "unlinked_object"  # an object zensync no longer links to (deleted, unlinked, replaced)
ROW_DELETED = "row_deleted"  # the catalog row is deleted: the outbound side retires the object
RECREATE, UNLINK, SOFT_DELETE, CREATED = "recreate", "unlink", "soft_delete", "created"  # delete policies, imports
PENDING = "pending"  # the inbox's status of an event still due (a handed-off one stays so)
HANDED_OFF = "handed_off"  # another catalog's object: the event goes (still pending) to that catalog's inbox


@dataclass(frozen=True)
class Change:
    """One stored event as the engine sees it, whatever system reported it."""

    event: int  # the inbox row's id
    event_id: str  # the system's id, for reports
    object_type: str
    external_id: str
    kind: str  # upsert | delete
    occurred_at: dt.datetime  # the system's time of the change (UTC)
    state: Mapping[str, Any]  # the object after the change; empty for a delete
    echo: bool = False  # the system says zensync's own request caused it
    tag: Optional[str] = None  # the internal id the object carries as zensync's tag, if any
    attempts: int = 0  # earlier attempts at applying this event
    # The targets the system says this change touched (Stripe's `data.previous_attributes`); None: no hint, any
    # field may have changed (engine/merge.py).
    hints: Optional[frozenset[str]] = None
    # Earlier changes of other people that a later write of zensync's replaced before they were applied (their
    # events older than its echo): (state, hints, time) each, so the merge still counts their fields as edits.
    overwritten: tuple[tuple[Mapping[str, Any], frozenset[str], dt.datetime], ...] = ()
    # Marked as zensync's own write by the system, yet merged: its state was read now (a system that reports the
    # last writer only, like Salesforce, would hide a person's edit made just before it). Counted as an echo
    # when it changes nothing.
    own: bool = False
    # (target, JSON value) that zensync's own writes set, per the echoes beside this change: a field holding one
    # is zensync's write whose outcome may not be recorded yet (a kill in between), not a person's edit.
    ours: frozenset[tuple[str, str]] = frozenset()


@dataclass(frozen=True)
class Verdict:
    """What became of one stored event; the inbox's `mark` records it (same fields as the store's EventResult)."""

    id: int
    status: str  # applied | ignored | failed (the inbox's statuses)
    outcome: str
    error: Optional[str] = None
    next_attempt_at: Optional[dt.datetime] = None  # failed events only
    catalog: Optional[str] = None  # handed-off events only: the catalog whose inbox takes the event now


@dataclass(frozen=True)
class Neighbour:
    """Another catalog that writes the same object type of the system: an object linked to it (its mapping holds
    the id, or the object carries its tag field) is its (its inbox takes the event when it `reads` the type back,
    else nobody does), and an unlinked one is the importer's."""

    catalog: str
    tag_field: Optional[str]  # dotted for nested payloads ("metadata.zenskar_id")
    create_rows: bool = False
    reads: bool = True  # it reads this object type back (it has an inbox for it)


class RowRefused(Exception):
    """The database refused a catalog write (a constraint, a value too long): that event fails, the batch goes on.
    Raised by the writer's savepoint; a lost connection is no refusal and fails the run instead."""


class EventDecoder(Protocol):
    """Turns a system's stored event (an inbox row) into a Change. Optional, read with getattr by the run:
    `complete(changes) -> changes`, what the events leave out read through the API (a Stripe charge's invoice),
    called after decoding so that an outage fails the run; `verify_state`, see InboundRun._verify."""

    delete_types: frozenset[str]  # event types that report a deletion

    def decode(self, row: Mapping[str, Any]) -> Change: ...


class StateFetcher(Protocol):
    """Reads an object's current state through the system's API, when events alone cannot order a change."""

    api_calls: int

    def fetch(self, object_type: str, external_id: str) -> Optional[Mapping[str, Any]]:
        """The object now; None when it is gone (deleted)."""


class Adopter(Protocol):
    """Marks an object made in the system as the new catalog row's (a system whose outbound writes find objects
    by zensync's tag, like Salesforce's upsert on Zenskar_Id__c, needs the tag there before the next run)."""

    def adopt(self, object_type: str, external_id: str, internal_id: str) -> None:
        """Tag the object, or raise (the batch is rolled back, the run fails, the events stay due)."""


@dataclass
class InboundReport:
    """Counts of one inbound run, reported as materialization metadata."""

    applied: int = 0
    unchanged: int = 0
    echo: int = 0
    stale: int = 0
    conflicts_lost: int = 0  # events with at least one field that lost to the catalog
    conflicts: int = 0  # fields changed on both sides to different values, recorded with both (engine/merge.py)
    untracked: int = 0
    deletes: int = 0  # external deletes handled by policy
    handed_off: int = 0  # events of objects another catalog links (or imports): moved to its inbox, still due
    failed: int = 0
    fetches: int = 0  # API calls to read an object's current state
    seconds: float = 0.0
    failures: list[dict[str, Any]] = field(default_factory=list)

    MAX_FAILURES_KEPT = 100
    BY_OUTCOME = {APPLIED: "applied", CREATED: "applied", UNCHANGED: "unchanged", ECHO: "echo", STALE: "stale",
                  UNLINKED_OBJECT: "stale", ROW_DELETED: "stale", CONFLICT_LOST: "conflicts_lost",
                  UNTRACKED: "untracked", RECREATE: "deletes", UNLINK: "deletes", SOFT_DELETE: "deletes",
                  HANDED_OFF: "handed_off"}

    def count(self, outcome: str, failed: bool = False, **failure: Any) -> None:
        if failed:
            self.failed += 1
            if len(self.failures) < self.MAX_FAILURES_KEPT:
                self.failures.append(failure)
            return
        name = self.BY_OUTCOME.get(outcome, "stale")
        setattr(self, name, getattr(self, name) + 1)

    def counts(self) -> dict[str, Any]:
        names = ("applied", "unchanged", "echo", "stale", "conflicts_lost", "conflicts", "untracked", "deletes",
                 "handed_off", "failed", "fetches")
        return {name: getattr(self, name) for name in names} | {"seconds": round(self.seconds, 3)}
