"""Decide, per row and external object, what to do: create, update, delete, skip, or a local verdict."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Optional

from .keys import idempotency_key, next_write_seq, update_material
from .mapper import mapper_for
from .merge import base_of, dump, load, merges, partial
from .same_row import AWAITING, create_only_changed, object_fingerprint, replace_fingerprint, split
from .spec import CatalogSpec, ExternalObject
from .types import (CREATE, DELETE, DELETED, FAILED, INVALID, PENDING, REPLACE, SYNCED, UNLINKED, UPDATE, WAITING,
                    MappingState, Operation, Outcome, Pointer)
from .write_back import seen

DELETED_FINGERPRINT = "deleted"
_NO_REFERENCES: Mapping[str, Optional[str]] = {}  # shared, never written: most rows reference nothing


@dataclass
class RowPlan:
    operations: list[Operation] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    skipped: int = 0


def _verdict(spec: CatalogSpec, system: str, obj: ExternalObject, internal_id: str, state: Optional[MappingState],
             status: str, code: str, column: Optional[str], message: str, group: Optional[str]) -> Outcome:
    return Outcome(spec.name, system, obj.name, internal_id, CREATE, status, error_code=code, error_field=column,
                   error_message=message, attempt=(state.attempts if state else 0) + 1, group=group)


def _live_id(state: Optional[MappingState]) -> Optional[str]:
    return state.external_id if state is not None and state.status not in (DELETED, UNLINKED) else None


def _pointer(spec: CatalogSpec, system: str, obj: ExternalObject, states: Mapping[str, MappingState],
             new: frozenset[str] | set[str] = frozenset()) -> Optional[Pointer]:
    """Who points at `obj` (None if nobody does, or the pointing object is gone); its id is left None when that
    object is itself new in this plan, for the sync loop to fill in."""
    if obj.pointed_by is None:
        return None
    name, field_ = obj.pointed_by
    owner = next(o for o in spec.objects(system) if o.name == name)
    known = None if name in new else _live_id(states.get(name))
    if known is None and name not in new:
        return None
    return Pointer(name, owner.object_type, field_, known, owner.external_id_field)


def plan_delete(spec: CatalogSpec, system: str, internal_id: str, states: Mapping[str, MappingState],
                group: Optional[str] = None, key_scope: str = "") -> RowPlan:
    """Delete every live external object of a row that is soft-deleted, or gone from the catalog altogether."""
    plan = RowPlan()
    deletes = spec.strategy(system).deletes  # upsert and insert_only copies keep what they wrote
    for obj in reversed(spec.objects(system)):  # children first, so no write ever points at a deleted parent
        state = states.get(obj.name)
        if state is None or state.status in (DELETED, UNLINKED):  # unlinked: already deleted on the other side
            plan.skipped += 1
            continue
        if state.external_id is not None and not deletes:
            plan.skipped += 1
            continue
        if state.external_id is None:
            # Never written (invalid, waiting, failed before creation): nothing to delete outside, but the row
            # must leave the failed list, or it would be reported as failing forever.
            plan.outcomes.append(Outcome(spec.name, system, obj.name, internal_id, DELETE, DELETED,
                                         fingerprint=DELETED_FINGERPRINT, attempt=state.attempts + 1, group=group))
            continue
        seq = next_write_seq(state)
        plan.operations.append(Operation(
            spec.name, system, obj.name, internal_id, DELETE, {}, DELETED_FINGERPRINT, state.external_id,
            idempotency_key(spec.name, internal_id, system, obj.name, DELETE, DELETED_FINGERPRINT, seq, key_scope),
            obj.external_id_field, attempt=state.attempts + 1, resource_type=obj.key and obj.object_type, group=group,
            pointer=_pointer(spec, system, obj, states),  # cleared first: a system may refuse to retire a target
            seq=seq,
        ))
    return plan


def plan_row(
    spec: CatalogSpec,
    system: str,
    row: Mapping[str, Any],
    states: Mapping[str, MappingState],
    references: Optional[Mapping[str, Mapping[str, Optional[str]]]] = None,
    group: Optional[str] = None,
    key_scope: str = "",
) -> RowPlan:
    """Plan one row for every external object of `system`.

    `states` maps object name -> what the mapping table knows; `references` maps object name -> {target field:
    resolved external id} for fields that point at another catalog; `group` is the row's group in the run's counts;
    `key_scope` the mapping store's namespace of idempotency keys (engine/keys.py).
    """
    internal_id = str(row[spec.primary_key])
    objects = spec.objects(system)
    if spec.soft_delete_column and row.get(spec.soft_delete_column) is not None:
        return plan_delete(spec, system, internal_id, states, group, key_scope)

    plan = RowPlan()
    updates = spec.strategy(system).updates
    blocked: dict[str, str] = {}  # object name -> why it cannot be written in this run
    new: set[str] = set()  # objects this plan creates or replaces: their ids are known only once written
    for obj in objects:
        state = states.get(obj.name)
        refs = references.get(obj.name, _NO_REFERENCES) if references else _NO_REFERENCES

        def hold(status: str, code: str, column: Optional[str], reason: str) -> None:
            blocked[obj.name] = reason
            plan.outcomes.append(_verdict(spec, system, obj, internal_id, state, status, code, column, reason,
                                          group))

        if state is not None and state.status == UNLINKED:
            plan.skipped += 1  # deleted on the system's side, and its inbound policy says not to re-create it
            continue
        if not updates and state is not None and state.external_id is not None and state.status != DELETED:
            plan.skipped += 1  # insert_only: created once, never touched again
            continue
        parent = next((p for p in obj.parents if p in blocked), None)
        if parent is not None:
            hold(WAITING, "parent_not_synced", None, f"waiting for {parent}: {blocked[parent]}")
            continue
        mapper = mapper_for(obj)
        unselected = [f for f in mapper.reference_fields if f.references.select_by is not None
                      and row.get(f.column) is not None and f.references.object_for(row) is None] \
            if mapper.reference_fields else ()
        if unselected:
            ref = unselected[0].references
            hold(INVALID, "invalid_choice", ref.select_by,
                 f"{row.get(ref.select_by)!r} is not one of {list(ref.select or {})} (it chooses the {ref.noun})")
            continue
        missing = [f for f in mapper.reference_fields
                   if row.get(f.column) is not None and not refs.get(f.target)] if mapper.reference_fields else ()
        if missing:
            f = missing[0]
            hold(WAITING, "reference_not_synced", f.column,
                 f"{f.references.noun} not synced to {system} yet ({f.references.catalog} row {row[f.column]} "
                 f"has no {f.references.object_for(row)} there)")
            continue
        awaiting: list[tuple[str, str]] = []
        if mapper.same_row_fields:
            refs = dict(refs)
            for f in mapper.same_row_fields:
                known = None if f.same_row in new else _live_id(states.get(f.same_row))
                if f.same_row in new:
                    awaiting.append((f.target, f.same_row))
                refs[f.target] = AWAITING if f.same_row in new else known
            gone = [f for f in mapper.same_row_fields if refs[f.target] is None]
            if gone:
                hold(WAITING, "parent_not_synced", None, f"waiting for {gone[0].same_row}: it has no "
                                                         f"{system} id yet")
                continue
        payload, errors = mapper.build(row, refs)
        if errors:
            hold(INVALID, errors[0].code, ", ".join(e.column for e in errors),
                 "; ".join(f"{e.column}: {e.reason}" for e in errors))
            continue
        fp = object_fingerprint(obj, payload)
        if state is not None and state.status == SYNCED and state.fingerprint == fp:
            plan.skipped += 1
            continue
        exists = state is not None and state.external_id is not None and state.status != DELETED
        action = CREATE if not exists else REPLACE if create_only_changed(obj, state.fingerprint, fp, payload) \
            else UPDATE
        attempt = state.attempts if state is not None else 0
        seq = next_write_seq(state)
        base = dump(base_of(obj, payload)) if merges(obj) else None  # kept once the write is confirmed
        if action == UPDATE and obj.create_only_targets:
            payload = split(obj, payload)[0]
        fields = None
        if action == UPDATE and base is not None and state.base is not None:
            # Only the fields the catalog changed since the last sync: the system's own edits of the others stay.
            fields = tuple(sorted(partial(obj, payload, load(state.base)))) or None
        if action == REPLACE:
            key = idempotency_key(spec.name, internal_id, system, obj.name, action,
                                  replace_fingerprint(fp, state.external_id), 0, key_scope)
        else:
            key = idempotency_key(spec.name, internal_id, system, obj.name, action, update_material(fp, fields), seq,
                                  key_scope)
        if action != UPDATE:
            new.add(obj.name)
        plan.operations.append(Operation(
            spec.name, system, obj.name, internal_id, action, payload, fp,
            state.external_id if exists else None, key,
            obj.external_id_field, attempt=attempt + 1, group=group,
            recovering=action == CREATE and state is not None and state.status in (PENDING, FAILED),
            resource_type=obj.key and obj.object_type, awaiting=tuple(awaiting),
            pointer=_pointer(spec, system, obj, states, new) if action != UPDATE else None,
            lookup=obj.lookup if action == CREATE else None, seq=seq, base=base, fields=fields,
            seen=seen(spec, obj, row), replaced=state.fingerprint if action == REPLACE else None,
        ))
    return plan
