"""A Salesforce outbound message stored by the receiver as ONE inbox row (an envelope), split into its
notifications by the inbox job.

Storing 100 notifications as 100 rows cost the receiver ~6 ms of CPU per message (a row, its JSON and its
parameters each) and PostgreSQL ~70 µs per row with the table's indexes, all before the Ack: ~5,000
notifications/s at most on the 2-CPU machine. One row per message is one parameter set and one index entry, so a
burst (a data load) is acknowledged at the rate the message can be verified, and the per-notification work
moves to the inbox job, which splits the envelope before it applies anything (store/inbox_envelopes.py): the
same rows as before, deduplicated by notification id on insert, in the message's order, under the tenant and
catalogs decided at receipt. Nothing is lost in between: the envelope is committed before the Ack and split in
one transaction with the rows it becomes.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any, Mapping, Optional

from ...store.inbox import ENVELOPE, NewInboundEvent
from .outbound import SYSTEM, OutboundMessage, notification_event


def envelope_event(message: OutboundMessage, routes: Mapping[str, str], received_at: dt.datetime,
                   tenant: Optional[str] = None) -> Optional[NewInboundEvent]:
    """The envelope of the notifications a catalog takes in (None when there is none: acknowledged, nothing
    stored). Its id is a digest of the notification ids, so the same message delivered again is a duplicate."""
    kept = [(n.id, n.sobject_type, catalog, n.fields) for n in message.notifications
            if (catalog := routes.get(n.sobject_type)) is not None]
    if not kept:
        return None
    digest = hashlib.sha256(",".join(k[0] for k in kept).encode()).hexdigest()[:40]
    payload = json.dumps({"received_at": received_at.isoformat(), "action_id": message.action_id,
                          "notifications": kept}, separators=(",", ":"))
    return NewInboundEvent(system=SYSTEM, event_id=f"envelope_{digest}", event_type=ENVELOPE, catalog=kept[0][2],
                           object_type=ENVELOPE, external_id=kept[0][0], occurred_at=received_at, payload=payload,
                           tenant=tenant)


def split(row: Mapping[str, Any]) -> list[NewInboundEvent]:
    """The notifications' inbox events of a stored envelope, as the receiver would have stored them one by one."""
    data = json.loads(row["payload"])
    received_at = dt.datetime.fromisoformat(data["received_at"])
    return [notification_event(notification_id, sobject_type, catalog, fields, received_at, row["tenant"],
                               row["source"])
            for notification_id, sobject_type, catalog, fields in data["notifications"]]
