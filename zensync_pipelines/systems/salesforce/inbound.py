"""Salesforce's stored events as the inbound engine sees them (engine.inbound.types), beside Stripe's.

Outbound-message notifications and polled records are stored alike: the record in the REST shape. Neither is
trusted for values: the decoder asks the engine to verify (`verify_state`), and the fetcher reads the current
state of every record of a batch with one SOQL `IN` query per object type, with zensync's own login, counted. The
record's current SystemModstamp orders it (newest-wins against the catalog's cursor).

Echoes: a change whose author (`LastModifiedById`) is zensync's integration user is zensync's own write: in a
real org its writes fire the same outbound messages as anyone's. The author comes from the notification (the
version it reports); a forged author can at worst skip a change, never write a value Salesforce does not hold.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any, Callable, Iterable, Mapping, Optional

from ...engine.inbound.types import REMOVE, UPSERT, Change
from . import outbound_envelope
from .changes import ChangeReader
from .ids import canonical
from .outbound import parse_datetime
from .polling import DELETED

TAG_FIELD = "Zenskar_Id__c"  # where an object type's tag is when its spec declares no external_id_field


class SalesforceEvents:
    """engine.inbound.types.EventDecoder for Salesforce; `user_id`: zensync's integration user (echoes);
    `tag_fields`: object type -> the external-id field the catalog declares for it, where its tag is read."""

    delete_types = frozenset({DELETED})
    verify_state = True  # the payload is a hint: the engine replaces it with the fetched current state
    # The receiver stores an outbound message as one envelope row; the run splits it into notifications first.
    split_envelope = staticmethod(outbound_envelope.split)

    def __init__(self, user_id: Optional[str] = None, identify: Optional[Callable[[], str]] = None,
                 tag_fields: Optional[Mapping[str, str]] = None):
        # `identify` asks the org who zensync is, once, at the first event: an idle run makes no call.
        self._user_id, self._identify = (canonical(user_id) if user_id else None), identify
        self.tag_fields = dict(tag_fields or {})

    @property
    def user_id(self) -> Optional[str]:
        if self._user_id is None and self._identify is not None:
            self._user_id, self._identify = canonical(self._identify()), None
        return self._user_id

    def decode(self, row: Mapping[str, Any]) -> Change:
        record = json.loads(row["payload"])
        occurred = row["occurred_at"]
        deleted = row["event_type"] in self.delete_types or bool(record.get("IsDeleted"))
        return Change(
            event=row["id"], event_id=row["event_id"], object_type=row["object_type"],
            external_id=row["external_id"], kind=REMOVE if deleted else UPSERT,
            occurred_at=occurred if occurred.tzinfo else occurred.replace(tzinfo=dt.timezone.utc),
            state={} if deleted else record, echo=self._by_zensync(record), tag=self._tag(row["object_type"], record),
            attempts=row["attempts"])

    def verified(self, change: Change, current: Optional[Mapping[str, Any]]) -> Change:
        """The change with the record as Salesforce holds it now (None or IsDeleted: gone)."""
        if current is None or current.get("IsDeleted"):
            return dataclasses.replace(change, kind=REMOVE, state={})
        # The record's own stamp, never the message's: a forged time must not win newest-wins or move the cursor.
        stamp = parse_datetime(current.get("SystemModstamp")) or change.occurred_at
        return dataclasses.replace(change, state=current, occurred_at=stamp,
                                   tag=self._tag(change.object_type, current) or change.tag)

    def _tag(self, object_type: str, record: Mapping[str, Any]) -> Optional[str]:
        """The catalog's own tag only: another catalog's field on the same object type is no link to this one."""
        value = record.get(self.tag_fields.get(object_type, TAG_FIELD))
        return str(value) if value not in (None, "") else None

    def _by_zensync(self, record: Mapping[str, Any]) -> bool:
        author = record.get("LastModifiedById")
        return bool(self.user_id and author and canonical(author) == self.user_id)


class SalesforceCurrentState:
    """engine.inbound.types.StateFetcher: records read in batches, kept for the batch, so the engine's later
    single fetches (ordering ties) cost no call."""

    def __init__(self, reader: ChangeReader, count: Any):
        self.reader, self._count = reader, count  # count(): the adapter's API calls so far
        self._known: dict[tuple[str, str], Optional[Mapping[str, Any]]] = {}

    @property
    def api_calls(self) -> int:
        return self._count()

    def fetch_many(self, object_type: str, external_ids: Iterable[str]) -> dict[str, Optional[Mapping[str, Any]]]:
        """One SOQL `IN` query (per 200 ids) for the records; None for a record gone for good."""
        found = self.reader.current(object_type, external_ids)
        self._known.update({(object_type, record_id): record for record_id, record in found.items()})
        return {record_id: found.get(canonical(record_id) or record_id) for record_id in external_ids}

    def fetch(self, object_type: str, external_id: str) -> Optional[Mapping[str, Any]]:
        key = (object_type, canonical(external_id) or external_id)
        if key not in self._known:
            self._known[key] = self.reader.current(object_type, [external_id]).get(key[1])
        record = self._known[key]
        return None if record is None or record.get("IsDeleted") else record


class SalesforceAdopter:
    """Writes a catalog id into the tag field of a record made in Salesforce, at once (engine's Adopter)."""

    def __init__(self, adapter: Any, tag_fields: Optional[Mapping[str, str]] = None):
        self.adapter, self.tag_fields = adapter, dict(tag_fields or {})

    def adopt(self, object_type: str, external_id: str, internal_id: str) -> None:
        """One call per record made by hand (rare); a refusal raises, so the engine commits no untagged row."""
        field = self.tag_fields.get(object_type)
        result = self.adapter.write_tags(object_type, {external_id: internal_id}, field)[external_id]
        if not result.ok:
            raise AdoptionRefused(f"{object_type} {external_id} refused zensync's tag for row {internal_id}: "
                                  f"{result.code}: {result.message}")


class AdoptionRefused(Exception):
    """Salesforce refused the tag on a record made by hand: its catalog row is not created (the run fails)."""
