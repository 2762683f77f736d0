"""The polling fallback for Salesforce: each tick reads what changed per object into the inbox, so a window of
lost outbound messages (an endpoint down for more than Salesforce's 24 hours of retries, a misconfigured
workflow) is repaired.

Cheap when idle: one SOQL query per object per tick (`queryAll`, so deletions still in the recycle bin come with
it). `/deleted`, which also sees records emptied from the recycle bin, answers by the minute and is asked at most
every `deleted_every`. Cursors live in the state table (scope `inbound:salesforce`, one key per object) and move
only after the inbox commit: a crash re-reads a window, and the inbox's unique event id stores nothing twice.
The query starts `overlap` before the newest SystemModstamp seen, because a transaction that commits late can
carry an older stamp than one already read.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Optional, Sequence

from ...store.inbox import InboxStore, NewInboundEvent
from ...store.state import StateStore
from .changes import DELETED_HISTORY, ChangeReader, Deletion
from .ids import canonical
from .outbound import EVENT_TYPE, SYSTEM, parse_datetime

SCOPE = "inbound:salesforce"
DELETED = "deleted"


@dataclass(frozen=True)
class PollReport:
    object_type: str
    read: int  # records and deletions read (the overlap re-reads some)
    stored: int  # new inbox events
    deletions_checked: bool
    gap_before: Optional[dt.datetime] = None  # /deleted could not look back this far: deletions before it are lost


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class SalesforcePoller:
    def __init__(self, reader: ChangeReader, inbox: InboxStore, state: StateStore, routes: Mapping[str, str],
                 fields: Optional[Mapping[str, Sequence[str]]] = None, overlap: dt.timedelta = dt.timedelta(minutes=2),
                 deleted_every: dt.timedelta = dt.timedelta(minutes=5), clock: Callable[[], dt.datetime] = _utcnow):
        if deleted_every < dt.timedelta(minutes=1):
            raise ValueError("deleted_every must be at least a minute: /deleted answers by the minute")
        self.reader, self.inbox, self.state, self.routes = reader, inbox, state, routes
        self.fields, self.overlap, self.deleted_every, self.clock = fields or {}, overlap, deleted_every, clock

    def tick(self) -> list[PollReport]:
        return [self.poll(object_type) for object_type in self.routes]

    def poll(self, object_type: str) -> PollReport:
        cursor: dict[str, Any] = dict(self.state.get(SCOPE, object_type) or {})
        now = self.clock()
        newest = parse_datetime(cursor.get("modstamp")) or now  # first tick: changes from now on
        records = self.reader.modified_since(object_type, newest - self.overlap, self.fields.get(object_type))
        events = [self._record_event(object_type, r) for r in records]
        stamps = [e.occurred_at for e in events]
        cursor["modstamp"] = max([newest, *stamps]).isoformat()
        checked, gap = False, None
        deleted_until = parse_datetime(cursor.get("deleted_until")) or now
        if now - deleted_until >= self.deleted_every:
            start = deleted_until - self.overlap
            if start < now - DELETED_HISTORY + dt.timedelta(minutes=1):
                start = gap = now - DELETED_HISTORY + dt.timedelta(minutes=1)
            deletions, covered = self.reader.deleted_between(object_type, start, now)
            events += [self._deletion_event(object_type, d) for d in deletions]
            deleted_until, checked = covered, True
        cursor["deleted_until"] = deleted_until.isoformat()
        stored = self.inbox.add(events)  # first the events, then the cursor: a crash between re-reads
        self.state.put(SCOPE, object_type, cursor)
        return PollReport(object_type, len(events), stored, checked, gap)

    def _record_event(self, object_type: str, record: dict[str, Any]) -> NewInboundEvent:
        record_id = canonical(record["Id"]) or record["Id"]
        stamp = parse_datetime(record.get("SystemModstamp")) or self.clock()
        if record.get("IsDeleted"):
            return self._deletion_event(object_type, Deletion(record_id, stamp), record)
        # The same record version read by two overlapping ticks is one event.
        return self._event(f"poll:{record_id}:{record.get('SystemModstamp')}", EVENT_TYPE, object_type,
                           record_id, stamp, record)

    def _deletion_event(self, object_type: str, deletion: Deletion,
                        record: Optional[dict[str, Any]] = None) -> NewInboundEvent:
        # queryAll and /deleted report one deletion with stamps a few milliseconds apart: keyed by the second,
        # they are one event (a later undelete and delete again is another second, so another event).
        second = deletion.deleted_at.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        body = record or {"attributes": {"type": object_type}, "Id": deletion.record_id, "IsDeleted": True}
        return self._event(f"deleted:{deletion.record_id}:{second}", DELETED, object_type, deletion.record_id,
                           deletion.deleted_at, body)

    def _event(self, event_id: str, event_type: str, object_type: str, record_id: str, occurred_at: dt.datetime,
               body: dict[str, Any]) -> NewInboundEvent:
        return NewInboundEvent(system=SYSTEM, event_id=event_id, event_type=event_type,
                               catalog=self.routes[object_type], object_type=object_type, external_id=record_id,
                               occurred_at=occurred_at, payload=json.dumps(body, sort_keys=True, default=str),
                               source="poll")
