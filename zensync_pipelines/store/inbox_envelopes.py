"""Splitting envelopes: a delivery the receiver stored as one inbox row (a Salesforce outbound message of up to
100 notifications) becomes the rows of its events, as if the receiver had stored them one by one.

The inbox job splits its catalog's envelopes before it reads due events (engine/inbound/run.py), in one
transaction per chunk: the events are inserted (ON CONFLICT DO NOTHING, so a notification delivered twice, in
the same message or another, is stored once) and the envelope is marked applied with the outcome `split`. Rows
get their ids at the split, in the envelopes' order and each envelope's own order, so the job still applies a
message's notifications in the order Salesforce sent them. A crash leaves either the envelope pending or its
events stored, never neither. Which catalog an event goes to, and its tenant, were decided at receipt (the
envelope carries both); the split needs no spec.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable, Mapping, Sequence

from sqlalchemy import select, update

from .inbox import APPLIED, ENVELOPE, IGNORED, PENDING, InboxStore, NewInboundEvent, Unstorable, check_storable
from .tables import inbound_events

Split = Callable[[Mapping[str, Any]], Sequence[NewInboundEvent]]
CHUNK = 50  # envelopes per transaction: up to 5,000 Salesforce notifications
ROWS = 1000  # per INSERT statement
SPLIT = "split"


def split_envelopes(inbox: InboxStore, catalog: str, system: str, split: Split, chunk: int = CHUNK) -> int:
    """Split every pending envelope of `catalog` and `system` (the inbox's tenant); how many events were new."""
    c = inbound_events.c
    new = 0
    while True:
        query = select(c.id, c.tenant, c.source, c.payload).where(
            c.tenant == inbox.tenant, c.catalog == catalog, c.system == system, c.status == PENDING,
            c.event_type == ENVELOPE).order_by(c.id).limit(chunk)
        if inbox.engine.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)  # a concurrent run of the catalog splits the others
        with inbox.engine.begin() as connection:
            envelopes = [dict(row._mapping) for row in connection.execute(query)]
            if not envelopes:
                return new
            events, outcomes = [], {}
            for envelope in envelopes:
                try:
                    found = list(split(envelope))
                    for event in found:
                        check_storable(event)
                except (ValueError, KeyError, TypeError, Unstorable) as error:  # kept, with the reason
                    outcomes[envelope["id"]] = (IGNORED, "undecodable", f"{type(error).__name__}: {error}"[:500])
                    continue
                events += found
                outcomes[envelope["id"]] = (APPLIED, SPLIT, None)
            for start in range(0, len(events), ROWS):
                new += len(inbox.insert(connection, events[start:start + ROWS]))
            now = dt.datetime.now(dt.timezone.utc)
            for envelope_id, (status, outcome, error) in outcomes.items():
                connection.execute(update(inbound_events).where(c.id == envelope_id).values(
                    status=status, outcome=outcome, last_error=error, attempts=c.attempts + 1, applied_at=now))
