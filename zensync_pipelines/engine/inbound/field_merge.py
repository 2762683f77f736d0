"""Apply one object's change to its row field by field, against the mapping's base (engine/merge.py).

Used for objects with two-way fields whose mapping has a base, or whose row is in sync (then the base is the row's
payload). The catalog takes the fields only the system changed; a field both sides changed differently goes by
its rule and is recorded as a conflict, whoever wins; inbound-only fields are the system's and always taken.
Row values, the mapping's base and fingerprint, and the conflicts are written through the batch's writer, in one
savepoint: all of them or none.

The mapping's fingerprint becomes that of the base, the payload the system now holds: equal to the row's payload
when nothing is left to send (no ping-pong), different when the catalog has fields the system lacks, which the
next outbound run then sends, and only those.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Callable, Mapping, Optional, Protocol

from .types import APPLIED, CONFLICT_LOST, ECHO, UNCHANGED, Change, RowRefused, Verdict
from .values import advanced_cursor, as_utc, comparable, external_value, inbound_value
from ..merge import SYSTEM, FieldConflict, base_of, dump, load, merge, payload_of
from ..same_row import object_fingerprint
from ..spec import BOTH, CatalogSpec, ExternalObject, InvalidValue
from ..types import SYNCED, MappingState


class MergeWriter(Protocol):
    def savepoint(self) -> Any: ...

    def update_row(self, spec: CatalogSpec, internal_id: str, values: dict[str, Any]) -> None: ...

    def set_mapping(self, catalog: str, system: str, object_type: str, internal_id: str, **values: Any) -> None: ...

    def record_conflicts(self, rows: list[dict[str, Any]]) -> None: ...


def base_for(obj: ExternalObject, state: Optional[MappingState], payload: Optional[Mapping[str, Any]],
             fingerprint_: Optional[str]) -> Optional[dict[str, Any]]:
    """The mapping's base; for a mapping from before bases, the row's payload when the row is in sync (what the
    fingerprint says the system holds); None when neither is known (the change is judged as before)."""
    if state is None:
        return None
    if state.base is not None:
        return load(state.base)
    if payload is not None and state.status == SYNCED and fingerprint_ is not None \
            and fingerprint_ == state.fingerprint:
        return base_of(obj, payload)
    return None


def conflict_row(spec: CatalogSpec, system: str, obj: ExternalObject, internal_id: str, external_id: str,
                 conflict: FieldConflict, catalog_at: Optional[dt.datetime], run_id: str) -> dict[str, Any]:
    return {"catalog": spec.name, "internal_id": internal_id, "system": system, "object_type": obj.object_type,
            "external_id": external_id, "field": conflict.field.target, "column": conflict.field.column,
            "catalog_value": json.dumps(conflict.catalog_value, default=str),
            "system_value": json.dumps(conflict.system_value, default=str), "catalog_at": catalog_at,
            "system_at": conflict.system_at, "rule": conflict.rule, "winner": conflict.winner, "run_id": run_id}


def apply_merge(spec: CatalogSpec, system: str, writer: MergeWriter, run_id: str, obj: ExternalObject,
                change: Change, internal_id: str, row: dict[str, Any], state: Optional[MappingState],
                base: dict[str, Any], payload: Mapping[str, Any],
                failed: Callable[[str, str], Verdict], referenced: Callable[[Any, Any], Any] = lambda f, raw: raw,
                ) -> tuple[Verdict, Optional[dict[str, Any]], list[FieldConflict]]:
    """(the event's verdict, the row after it or None when it failed, the conflicts recorded); `failed(code,
    reason)` is the verdict of an event that fails; `referenced(field, raw)` resolves an inbound reference."""
    cursor = row.get(spec.cursor_column)
    catalog_at = as_utc(cursor) if isinstance(cursor, dt.datetime) else None
    both = [f for f in obj.inbound_fields if f.direction == BOTH]
    catalog = {f.target: external_value(payload, f.target) if f.target.split(".")[0] in payload
               else row.get(f.column) for f in both}
    # An update in flight (its intent recorded, its outcome not yet): its values are zensync's, not a person's.
    pending = load(state.pending_base) if state is not None else None
    result = merge(both, base, catalog, change.state, change.occurred_at, catalog_at, change.hints,
                   change.overwritten, change.ours, pending or {})
    values: dict[str, Any] = {}
    try:
        for f, raw in result.take.values():
            values[f.column] = inbound_value(f, raw)
        for f in obj.inbound_fields:
            if f.direction != BOTH:  # inbound only: the system owns the value
                values[f.column] = inbound_value(f, referenced(f, external_value(change.state, f.target)))
    except InvalidValue as bad:
        return failed(bad.code, f"{change.object_type}: {bad.reason}"), None, []
    fields = {f.column: f for f in obj.inbound_fields}
    values = {column: value for column, value in values.items()
              if comparable(fields[column], value) != comparable(fields[column], row.get(column))}
    lost = sum(c.winner != SYSTEM for c in result.conflicts)
    moved = result.base != base or (state is not None and state.base is None)
    if not values and not moved and not result.conflicts:
        return Verdict(change.event, "ignored", ECHO) if change.own else Verdict(change.event, APPLIED, UNCHANGED), \
            row, []
    if values and isinstance(cursor, dt.datetime):
        # The cursor records when the row changed, on either side: newest-wins compares the next event with it,
        # and the outbound sensors of other systems notice the row.
        values[spec.cursor_column] = advanced_cursor(cursor, change.occurred_at)
    mapping: dict[str, Any] = {"field_base": dump(result.base)}
    if state is not None and state.status == SYNCED:
        mapping["fingerprint"] = object_fingerprint(obj, payload_of(result.base))
    try:
        with writer.savepoint():
            if values:
                writer.update_row(spec, internal_id, values)
            writer.set_mapping(spec.name, system, obj.object_type, internal_id, **mapping)
            if result.conflicts:
                writer.record_conflicts([conflict_row(spec, system, obj, internal_id, change.external_id, c,
                                                      catalog_at, run_id) for c in result.conflicts])
    except RowRefused as refused:
        return failed("rejected_by_database", str(refused)), None, []
    after = row | values
    if values:
        return Verdict(change.event, APPLIED, APPLIED), after, result.conflicts
    if lost:
        kept = ", ".join(c.field.column for c in result.conflicts)
        return Verdict(change.event, "ignored", CONFLICT_LOST, f"the catalog's {kept} kept (conflict recorded)"), \
            after, result.conflicts
    if change.own:
        return Verdict(change.event, "ignored", ECHO), after, result.conflicts
    return Verdict(change.event, APPLIED, UNCHANGED), after, result.conflicts
