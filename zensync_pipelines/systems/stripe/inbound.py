"""Stripe events as inbox rows: which event types zensync reads per object type, and one event -> one row.

Used by the webhook receiver and by polling `/v1/events` alike, so both store the same row for the same event and
the inbox's unique key (system, event id) deduplicates across the two paths.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any, Mapping, Optional, Sequence

from ...engine.inbound.types import REMOVE, UPSERT, Change
from ...engine.keys import IDEMPOTENCY_PREFIX
from ...store.inbox import NewInboundEvent
from .shared import ZENSKAR_ID

SYSTEM = "stripe"

# The events a Stripe object reports its changes with (the API reference's names). `*.updated` carries
# `data.previous_attributes`; invoice state changes also emit their own types in the same second.
OBJECT_EVENTS: dict[str, tuple[str, ...]] = {
    "customer": ("customer.created", "customer.updated", "customer.deleted"),
    "invoice": ("invoice.created", "invoice.finalized", "invoice.paid", "invoice.payment_succeeded",
                "invoice.voided", "invoice.marked_uncollectible", "invoice.updated", "invoice.deleted"),
    # A cancelled subscription is not deleted: `deleted` carries it with status canceled, an update like the others.
    "subscription": ("customer.subscription.created", "customer.subscription.updated",
                     "customer.subscription.deleted"),
    # A charge's life: made (succeeded, failed or pending), captured, refunded (whole or in part), updated.
    "charge": ("charge.succeeded", "charge.failed", "charge.pending", "charge.captured", "charge.refunded",
               "charge.updated"),
}


def event_types(object_types: Sequence[str]) -> list[str]:
    """Every event type to subscribe to (webhook endpoint, `/v1/events?types[]=`) for these object types."""
    return [name for object_type in object_types for name in OBJECT_EVENTS.get(object_type, ())]


def to_inbox_event(event: Mapping[str, Any], routes: Mapping[str, str], source: str = "webhook",
                   payload: Optional[str] = None) -> Optional[NewInboundEvent]:
    """The inbox row for `event`, or None when no catalog reads its object type (`routes`: object type ->
    catalog). The payload is the whole event as JSON: the inbound engine needs `request` (echo detection),
    `created` (ordering) and `data` (the object's state after the change); `payload`: its JSON text as received
    (the receiver's signed body), else serialized here."""
    obj = (event.get("data") or {}).get("object") or {}
    object_type = obj.get("object")
    if object_type not in routes or event.get("type") not in OBJECT_EVENTS.get(object_type, ()):
        return None
    return NewInboundEvent(
        system=SYSTEM, event_id=str(event["id"]), event_type=str(event["type"]), catalog=routes[object_type],
        object_type=object_type, external_id=str(obj["id"]),
        occurred_at=dt.datetime.fromtimestamp(int(event["created"]), dt.timezone.utc),
        payload=payload if payload is not None else json.dumps(event, separators=(",", ":"), sort_keys=True),
        source=source)


def internal_id(event: Mapping[str, Any]) -> Optional[str]:
    """The catalog row an event's object belongs to, from zensync's metadata tag (None: not created by zensync)."""
    obj = (event.get("data") or {}).get("object") or {}
    value = (obj.get("metadata") or {}).get(ZENSKAR_ID)
    return str(value) if value not in (None, "") else None


# Stripe reports a deletion with these; the object in such an event is the object as it was (or a stub).
DELETE_TYPES = frozenset({"customer.deleted", "invoice.deleted"})


class StripeEvents:
    """The inbound engine's view of a stored Stripe event (engine.inbound.types.EventDecoder). With `links`
    (systems/stripe/links.py), an object's state gains what Stripe no longer puts in it (a charge's invoice)."""

    delete_types = DELETE_TYPES

    def __init__(self, links: Optional[Any] = None):
        self.links = links

    def decode(self, row: Mapping[str, Any]) -> Change:
        event = json.loads(row["payload"])
        key = (event.get("request") or {}).get("idempotency_key") or ""
        occurred = row["occurred_at"]
        return Change(
            event=row["id"], event_id=row["event_id"], object_type=row["object_type"],
            external_id=row["external_id"], kind=REMOVE if row["event_type"] in DELETE_TYPES else UPSERT,
            occurred_at=occurred if occurred.tzinfo else occurred.replace(tzinfo=dt.timezone.utc),
            state=(event.get("data") or {}).get("object") or {},
            # Every key zensync sends is derived and carries its prefix: the event of its own write is an echo.
            echo=key.startswith(IDEMPOTENCY_PREFIX), tag=internal_id(event), attempts=row["attempts"],
            hints=touched(event.get("data") or {}))


    def complete(self, changes: Sequence[Change]) -> list[Change]:
        """The decoded changes with what their objects link to, read through the API (the inbound run calls
        this outside the decode's guard: an outage raises and fails the run, the events stay due)."""
        if self.links is None:
            return list(changes)
        return [dataclasses.replace(c, state=self.links.complete(c.object_type, c.state)) if c.state else c
                for c in changes]


def touched(data: Mapping[str, Any]) -> Optional[frozenset[str]]:
    """The dotted targets an `*.updated` event changed, from `previous_attributes` (within a hash Stripe lists
    only the changed keys; a hash that was null before counts whole). None for events without it."""
    if "previous_attributes" not in data:
        return None
    found: set[str] = set()
    now = data.get("object") or {}
    for key, old in (data.get("previous_attributes") or {}).items():
        found.add(key)
        inner = old if isinstance(old, dict) else now.get(key) if isinstance(now.get(key), dict) else {}
        found.update(f"{key}.{name}" for name in inner)
    return frozenset(found)


def readback_event(catalog: str, object_type: str, internal_id: str, external_id: str,
                   state: Optional[Mapping[str, Any]]) -> NewInboundEvent:
    """An event for a change the read-back found and no webhook reported: shaped like Stripe's, so the inbound
    engine treats it like any other. Its id derives from the state, so finding the same drift twice stores it
    once; `state` None reports the object deleted."""
    import hashlib

    now = int(dt.datetime.now(dt.timezone.utc).timestamp())
    if state is None:
        obj: dict[str, Any] = {"id": external_id, "object": object_type, "deleted": True,
                               "metadata": {ZENSKAR_ID: internal_id}}
        event_type, digest = f"{object_type}.deleted", "deleted"
    else:
        obj, event_type = dict(state), f"{object_type}.updated"
        digest = hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:24]
    event = {"id": f"readback_{external_id}_{digest}", "object": "event", "type": event_type, "created": now,
             "data": {"object": obj}, "request": {"id": None, "idempotency_key": None}}
    return NewInboundEvent(system=SYSTEM, event_id=event["id"], event_type=event_type, catalog=catalog,
                           object_type=object_type, external_id=external_id,
                           occurred_at=dt.datetime.fromtimestamp(now, dt.timezone.utc),
                           payload=json.dumps(event, separators=(",", ":"), sort_keys=True, default=str),
                           source="readback")
