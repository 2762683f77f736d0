"""Objects of one row that depend on each other: create-only fields, their fingerprints, and same-row ids.

A price needs its product's id, which a new product only gets when it is written. The planner fills in ids it
already knows (from the mappings) and leaves a placeholder for an object created in the same batch; the sync loop
writes the row's objects in declaration order and, just before sending a waiting operation, puts the new id in
its place. The fingerprint and the idempotency key are computed again from the resolved payload, so what is
recorded (and what a rerun after a crash derives) is exactly what was sent.

An object with create-only fields is fingerprinted in two halves, the updatable fields and the create-only ones,
so the planner can tell an update from a change that needs a new object (`replace_on_change`). An object
without create-only fields keeps the plain fingerprint of its whole payload.
"""

from __future__ import annotations

import copy
import dataclasses
from typing import Any, Mapping, Optional

from .keys import idempotency_key, update_material
from .payload import fingerprint
from .spec import CatalogSpec, ExternalObject
from .types import REPLACE, WAITING, Operation, Outcome

AWAITING = "zensync:awaiting-same-row-id"  # never sent: resolved, or the operation waits for its parent
HALF = 32  # hex characters of each half of a two-part fingerprint: 64 in all, the column's width


def _pop(payload: dict[str, Any], target: str) -> tuple[bool, Any]:
    *parents, leaf = target.split(".")
    place = payload
    for key in parents:
        place = place.get(key)
        if not isinstance(place, dict):
            return False, None
    if leaf not in place:
        return False, None
    return True, place.pop(leaf)


def _put(payload: dict[str, Any], target: str, value: Any) -> None:
    *parents, leaf = target.split(".")
    place = payload
    for key in parents:
        place = place.setdefault(key, {})
    place[leaf] = value


def split(obj: ExternalObject, payload: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the fields an update may send, the create-only ones)."""
    updatable, create_only = copy.deepcopy(dict(payload)), {}
    for target in obj.create_only_targets:
        found, value = _pop(updatable, target)
        if found:
            create_only[target] = value
    return updatable, create_only


def object_fingerprint(obj: ExternalObject, payload: Mapping[str, Any]) -> str:
    if not obj.create_only_targets:
        return fingerprint(payload)
    updatable, create_only = split(obj, payload)
    if not obj.replace_on_change:  # create-only values are never sent again, so they cannot be out of date
        return fingerprint(updatable)
    return fingerprint(updatable)[:HALF] + fingerprint(create_only)[:HALF]


def create_only_changed(obj: ExternalObject, recorded: Optional[str], new: str,
                        payload: Optional[Mapping[str, Any]] = None) -> bool:
    """Whether a create-only value moved since the recorded write. A fingerprint recorded before the object was
    declared replace_on_change (the whole updatable payload's, `payload` tells) says nothing of them: not moved,
    the update that follows records the two-part one."""
    if not obj.replace_on_change or (recorded or "")[HALF:] == new[HALF:]:
        return False
    return payload is None or recorded != fingerprint(split(obj, payload)[0])


def object_named(spec: CatalogSpec, system: str, name: str) -> ExternalObject:
    return next(obj for obj in spec.objects(system) if obj.name == name)


def resolve(spec: CatalogSpec, op: Operation, ids: Mapping[tuple[str, str], str],
            key: Any) -> Optional[Operation]:
    """`op` with the same-row ids written earlier in the batch filled in; None when one is still unknown.

    `key` derives the idempotency key from (action, fingerprint, write sequence), as the planner did.
    """
    pointer = op.pointer
    if not op.awaiting and (pointer is None or pointer.external_id is not None):
        return op
    payload = copy.deepcopy(op.payload)
    for target, parent in op.awaiting:
        external_id = ids.get((op.internal_id, parent))
        if external_id is None:
            return None
        _put(payload, target, external_id)
    if pointer is not None and pointer.external_id is None:
        pointer = dataclasses.replace(pointer, external_id=ids.get((op.internal_id, pointer.object_name)))
        if pointer.external_id is None:
            return None
    obj = object_named(spec, op.system, op.object_type)
    fp = object_fingerprint(obj, payload)
    return dataclasses.replace(op, payload=payload, fingerprint=fp, awaiting=(), pointer=pointer,
                               idempotency_key=key(op, fp))


def replace_fingerprint(fp: str, old_external_id: Optional[str]) -> str:
    """What a replacement's idempotency key derives from: the new payload and the object it replaces, never the
    attempt, so a rerun after a failure part-way (created, not yet retired) finds the object it created."""
    return f"{REPLACE}:{fp}:{old_external_id}"


def _key(op: Operation, fp: str, scope: str = "") -> str:
    """The idempotency key of a resolved operation, derived as the planner's (engine/keys.py)."""
    material = replace_fingerprint(fp, op.external_id) if op.action == REPLACE else update_material(fp, op.fields)
    return idempotency_key(op.catalog, op.internal_id, op.system, op.object_type, op.action, material,
                           0 if op.action == REPLACE else op.seq, scope)


def resolve_one(spec: CatalogSpec, op: Operation, written: Mapping[tuple[str, str], str],
                key_scope: str = "") -> Operation | Outcome:
    """`op` ready to send, or the outcome of waiting when the same-row id it needs was not written; its key in
    `key_scope`, as the planner derived it."""
    resolved = resolve(spec, op, written, lambda o, fp: _key(o, fp, key_scope))
    if resolved is not None:
        return resolved
    return Outcome.of(op, WAITING, error_code="parent_not_synced",
                      error_message="waiting for an object of the same row that was not written")
