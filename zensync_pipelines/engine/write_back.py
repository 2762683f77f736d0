"""Values the system decides, taken from its answer to zensync's own write: a subscription's start and the time of
a cancel, an invoice's paid_at.

zensync's own writes come back as echoes, and the inbound side never applies an echo (an old write's echo would
undo a newer catalog edit), so such a value used to reach the row only with the system's next event or the
read-back. A system that answers a write with the whole object (Stripe) gives it at no cost: the engine takes the
object's owned fields (ExternalObject.owned_fields: inbound-only, and two-way ones the system wins) from the answer,
and the store writes the changed ones to the row in the transaction that records the outcome.

No ping-pong: an inbound-only field is not in the payload, so the write's fingerprint stands. A system-wins field
whose answer differs from what was sent (an invoice Stripe marks paid on finalizing, its amount being zero) changes
the payload: the outcome records the fingerprint and base of the payload with the system's value, which is what the
next plan computes from the row, so nothing is sent back.

No lost edit: the row is written only while its cursor is still the one the write was planned from (store). A row
changed in between (an edit, an inbound change) keeps its values; its next write or the system's next event brings
the system's. A value that fails its field's checks is left to the inbound side, which fails that event with the
reason. Rows being deleted (soft deletes) take nothing back, as on the inbound side.
"""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt
from typing import Any, Mapping, Optional

from .inbound.values import advanced_cursor, comparable, external_value, inbound_value
from .mapper import field_value
from .merge import base_of, dump
from .same_row import _put, object_fingerprint
from .spec import IN, CatalogSpec, ExternalObject
from .types import SYNCED, UPDATE, Operation, Outcome, WriteBack


def seen(spec: CatalogSpec, obj: ExternalObject, row: Mapping[str, Any]) -> Optional[dict[str, Any]]:
    """What an operation keeps of its row for the write-back: the cursor and the inbound-only columns (a two-way
    field's value is in the payload already); None for an object with no owned field."""
    owned = obj.owned_fields
    if not owned:
        return None
    return {spec.cursor_column: row.get(spec.cursor_column)} | {f.column: row.get(f.column) for f in owned
                                                                 if f.direction == IN}


def take_back(spec: CatalogSpec, obj: ExternalObject, op: Operation, outcome: Outcome,
              now: Optional[dt.datetime] = None) -> Outcome:
    """`outcome` without the object the system returned, and with the write-back of the owned values it changes."""
    returned = outcome.returned
    if returned is None:
        return outcome
    outcome = dataclasses.replace(outcome, returned=None)  # a whole object per row: never kept past this point
    if outcome.status != SYNCED or op.seen is None or (op.internal_id, op.object_type) != \
            (outcome.internal_id, outcome.object_type):
        return outcome
    # An update without its create-only fields holds no whole payload to fingerprint again.
    whole = not (op.action == UPDATE and obj.create_only_targets)
    values: dict[str, Any] = {}
    payload: Optional[dict[str, Any]] = None
    for f in obj.owned_fields:
        try:
            value = inbound_value(f, external_value(returned, f.target))
            sent = None if f.direction == IN else field_value(f, {f.column: value})
        except Exception:  # InvalidValue, or a user's transform: the inbound side reports it with its event
            continue
        if f.direction == IN:
            if comparable(f, value) != comparable(f, op.seen.get(f.column)):
                values[f.column] = value
        elif whole and sent != external_value(op.payload, f.target):
            values[f.column] = value
            payload = payload if payload is not None else copy.deepcopy(op.payload)
            _put(payload, f.target, sent)
    if not values:
        return outcome
    cursor = op.seen.get(spec.cursor_column)
    if isinstance(cursor, dt.datetime):  # moved, so the other systems' sensors see the new values
        values[spec.cursor_column] = advanced_cursor(cursor, now or dt.datetime.now(dt.timezone.utc))
    changed: dict[str, Any] = {}
    if payload is not None:  # the system holds this payload now: the next plan computes it from the row
        changed = {"fingerprint": object_fingerprint(obj, payload),
                   "base": dump(base_of(obj, payload)) if outcome.base is not None else None}
    return dataclasses.replace(outcome, write_back=WriteBack(values, cursor), **changed)
