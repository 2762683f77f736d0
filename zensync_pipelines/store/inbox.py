"""The inbound inbox: events that systems reported (webhooks, outbound messages, polling), durable before they
are acknowledged and applied to the catalog in batches.

Receivers call `add` and acknowledge only after it returns: the unique key (tenant, system, event id) makes a
redelivery a no-op. The inbound job reads `due` events, writes the catalog and calls `mark` in the same
transaction, so an event is applied exactly once even when the job is killed mid-batch.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any, Optional, Sequence

from sqlalchemy import Engine, and_, case, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite

from .state import DEFAULT_TENANT
from .tables import inbound_events

PENDING, APPLIED, IGNORED, FAILED = "pending", "applied", "ignored", "failed"
# The event type (and object type) of an envelope: one delivery of several events stored as one row, which the
# inbox job splits into its events (inbox_envelopes.py) before it applies any; never applied itself.
ENVELOPE = "envelope"
# What an identifier may hold: printable ASCII, no space (the systems' ids, types and names all fit; a NUL byte,
# which PostgreSQL refuses in text, or a newline never reach the table).
_IDENTIFIER = re.compile(r"[!-~]+")
# The column sizes of `inbound_events` (store/tables.py).
LIMITS = {"event_id": 255, "event_type": 100, "catalog": 100, "object_type": 100, "external_id": 255}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class NewInboundEvent:
    """One event as a receiver or poller stores it; `payload` is the event's JSON text as received."""

    system: str
    event_id: str
    event_type: str
    catalog: str
    object_type: str
    external_id: str
    occurred_at: dt.datetime
    payload: str
    source: str = "webhook"  # webhook | poll | readback
    # The receiver routes each event to its tenant before storing it, and one commit may hold several tenants'
    # events; None (pollers, read-back: one store per tenant) stores it under the store's tenant.
    tenant: Optional[str] = None
    # When the system delivered it; None: now, as it is stored. An envelope's events keep the envelope's time.
    received_at: Optional[dt.datetime] = None


@dataclass(frozen=True)
class EventResult:
    """What the inbound job made of one stored event."""

    id: int
    status: str  # applied | ignored | failed
    outcome: str  # applied | echo | stale | conflict_lost | unlinked | error code ...
    error: Optional[str] = None
    next_attempt_at: Optional[dt.datetime] = None  # failed events only
    catalog: Optional[str] = None  # status pending: the event is handed to this catalog's inbox, still due


# The receiver's INSERT on PostgreSQL, as SQL text for psycopg2 with ONE parameter: the rows as a JSON array.
# SQLAlchemy compiled the ON CONFLICT ... RETURNING statement again on every call (~1 ms of CPU), and psycopg2
# adapts each parameter of a multi-row VALUES on its own (13 a row: ~80 µs a row here, more than the rest of a
# delivery's own work); one json.dumps of every row and one quoted string cost a tenth of that. PostgreSQL takes
# the rows in the array's order (WITH ORDINALITY), so ids follow it. received_at: the time the event was received
# (a split envelope's), else the transaction's.
_FIELDS = ("tenant", "system", "event_id", "event_type", "catalog", "object_type", "external_id", "occurred_at",
           "received_at", "source", "payload")
_JSON_INSERT = (
    f"INSERT INTO {inbound_events.name} ({', '.join(_FIELDS)}, status, attempts) "
    "SELECT r.tenant, r.system, r.event_id, r.event_type, r.catalog, r.object_type, r.external_id, r.occurred_at, "
    "coalesce(r.received_at, now()), r.source, r.payload, 'pending', 0 FROM ROWS FROM (json_to_recordset(%s) "
    "AS (tenant text, system text, event_id text, event_type text, catalog text, object_type text, "
    "external_id text, occurred_at timestamptz, received_at timestamptz, source text, payload text)) "
    f"WITH ORDINALITY AS r({', '.join(_FIELDS)}, n) "
    "ORDER BY r.n ON CONFLICT (tenant, system, event_id) DO NOTHING RETURNING tenant, system, event_id")


class Unstorable(ValueError):
    """An event the inbox cannot take as it is (the text says which field and why, never its value)."""


def check_storable(event: NewInboundEvent) -> None:
    """Refuse, before any database work, what the table could not store or a log could not print safely: an
    answer that the database is down would make the system deliver it again for days."""
    for name, limit in LIMITS.items():
        value = getattr(event, name)
        if not isinstance(value, str) or not value:
            raise Unstorable(f"{name} is missing")
        if len(value) > limit:
            raise Unstorable(f"{name} is longer than {limit} characters")
        if not _IDENTIFIER.fullmatch(value):
            raise Unstorable(f"{name} holds characters other than printable ASCII")
    if "\x00" in event.payload:
        raise Unstorable("the payload holds a NUL character")


class InboxStore:
    def __init__(self, engine: Engine, tenant: str = DEFAULT_TENANT):
        self.engine, self.tenant = engine, tenant
        self._postgresql = engine.dialect.name == "postgresql"
        insert = (postgresql if self._postgresql else sqlite).insert
        self._add = insert(inbound_events).on_conflict_do_nothing(index_elements=["tenant", "system", "event_id"]) \
            .returning(inbound_events.c.tenant, inbound_events.c.system, inbound_events.c.event_id)

    def add(self, events: Sequence[NewInboundEvent]) -> int:
        """Store the events not stored yet, in one transaction; returns how many were new. Raises when the
        database cannot take them: the caller must then answer so that the system delivers again."""
        return len(self.add_new(events))

    def add_new(self, events: Sequence[NewInboundEvent]) -> set[tuple[str, str, str]]:
        """`add`, returning the (tenant, system, event id) of the events that were new (the receiver's group
        commit answers each delivery for its own events)."""
        if not events:
            return set()
        with self.engine.begin() as connection:
            return self.insert(connection, events)

    def insert(self, connection: Any, events: Sequence[NewInboundEvent]) -> set[tuple[str, str, str]]:
        """`add_new` inside the caller's transaction. One multi-row INSERT; RETURNING yields only the new rows."""
        if self._postgresql:
            return {tuple(row) for row in connection.exec_driver_sql(*self.insert_statement(events))}
        return {tuple(row) for row in connection.execute(self._add, self._rows(events))}

    def insert_statement(self, events: Sequence[NewInboundEvent], checked: bool = False) -> tuple[str, tuple[str]]:
        """PostgreSQL: the INSERT of `events` as SQL text for psycopg2 and its one parameter (see _JSON_INSERT);
        RETURNING gives (tenant, system, event id) of the rows that were new. `checked`: the caller ran
        check_storable on every event already (the receiver, before queueing them)."""
        if not checked:
            for event in events:
                check_storable(event)
        tenant = self.tenant
        return _JSON_INSERT, (json.dumps([
            {"tenant": e.tenant or tenant, "system": e.system, "event_id": e.event_id, "event_type": e.event_type,
             "catalog": e.catalog, "object_type": e.object_type, "external_id": e.external_id,
             "occurred_at": e.occurred_at.isoformat(),
             "received_at": e.received_at.isoformat() if e.received_at else None, "source": e.source,
             "payload": e.payload} for e in events]),)

    def _rows(self, events: Sequence[NewInboundEvent]) -> list[dict[str, Any]]:
        for event in events:
            check_storable(event)
        now = _now()
        return [{"tenant": e.tenant or self.tenant, "system": e.system, "event_id": e.event_id,
                 "event_type": e.event_type, "catalog": e.catalog, "object_type": e.object_type,
                 "external_id": e.external_id, "occurred_at": e.occurred_at, "received_at": e.received_at or now,
                 "source": e.source, "payload": e.payload, "status": PENDING, "attempts": 0} for e in events]

    def _due(self, catalog: str, system: str, now: dt.datetime) -> Any:
        c = inbound_events.c
        return and_(c.tenant == self.tenant, c.catalog == catalog, c.system == system,
                    or_(c.status == PENDING, and_(c.status == FAILED, c.next_attempt_at <= now)))

    def due(self, catalog: str, system: str, limit: int = 500, after_id: int = 0,
            now: Optional[dt.datetime] = None) -> list[dict[str, Any]]:
        """Events to apply now (pending, or failed and due again), oldest stored first; never an envelope (it is
        split, not applied: the sensor's newest_due_id counts it, so that its catalog's job runs and splits it)."""
        c = inbound_events.c
        query = select(inbound_events).where(self._due(catalog, system, now or _now()), c.id > after_id,
                                             c.event_type != ENVELOPE) \
            .order_by(c.id).limit(limit)
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def newest_due_id(self, catalog: str, system: str, now: Optional[dt.datetime] = None) -> Optional[int]:
        """The sensor's idle tick: one indexed query."""
        c = inbound_events.c
        query = select(func.max(c.id)).where(self._due(catalog, system, now or _now()))
        with self.engine.connect() as connection:
            return connection.execute(query).scalar()

    def mark(self, connection: Any, results: Sequence[EventResult]) -> None:
        """Record results inside the caller's transaction (the one that wrote the catalog)."""
        c = inbound_events.c
        now = _now()
        for result in results:
            if result.status == PENDING:  # another catalog's object: its inbox takes the event, no attempt spent
                connection.execute(update(inbound_events).where(c.id == result.id).values(
                    catalog=result.catalog, outcome=result.outcome, last_error=result.error))
                continue
            values: dict[str, Any] = {"status": result.status, "outcome": result.outcome,
                                      "last_error": result.error, "attempts": c.attempts + 1}
            values.update({"applied_at": now} if result.status != FAILED else
                          {"next_attempt_at": result.next_attempt_at})
            connection.execute(update(inbound_events).where(c.id == result.id).values(**values))

    def backlog(self, catalog: str, system: str) -> dict[str, Any]:
        """Unapplied events (pending or failed) and the received time of the oldest, for the backlog checks."""
        c = inbound_events.c
        query = select(func.count(), func.min(c.received_at), func.sum(case((c.status == FAILED, 1), else_=0))) \
            .where(c.tenant == self.tenant, c.catalog == catalog, c.system == system,
                   c.status.in_([PENDING, FAILED]))
        with self.engine.connect() as connection:
            count, oldest, failed = connection.execute(query).one()
        return {"unapplied": int(count or 0), "failed": int(failed or 0), "oldest_received_at": oldest}

    def rows(self, **filters: Any) -> list[dict[str, Any]]:
        """Stored events as dicts, for checks, reports and tests."""
        c = inbound_events.c
        conditions = [c.tenant == self.tenant] + [c[name] == value for name, value in filters.items()]
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(
                select(inbound_events).where(*conditions).order_by(c.id))]
