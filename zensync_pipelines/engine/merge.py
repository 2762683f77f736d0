"""Field-level three-way merge: the base, what each side changed since, and who wins a field both changed.

The mapping keeps, per external object, the last synced value of every outbound field (the base: the payload the
system is known to hold, by target). A field counts as changed on the system's side only if its incoming value
differs from the base, on the catalog's side only if the row's payload value differs from it. So an object whose
email changed in the catalog and whose phone changed in the system merges both, in either order of runs: the
inbound run takes the phone (the email is the catalog's own change), the outbound run sends the email alone
(`partial`). Only a field changed on both sides to different values is a conflict, decided by the field's rule.

Objects without a two-way field keep no base: their updates send the whole payload, as before.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

from .inbound.values import comparable, external_value
from .same_row import _put
from .spec import BOTH, CATALOG_WINS, NEWEST_WINS, SYSTEM_WINS, ExternalObject, Field

CATALOG, SYSTEM = "catalog", "system"


def merges(obj: ExternalObject) -> bool:
    """Objects with a field that syncs both ways keep a base."""
    return any(f.direction == BOTH for f in obj.fields)


def base_of(obj: ExternalObject, payload: Mapping[str, Any]) -> dict[str, Any]:
    """The base a confirmed write of `payload` leaves: each outbound target's value (create-only ones too)."""
    return {f.target: external_value(payload, f.target) for f in obj.outbound_fields}


def dump(base: Optional[Mapping[str, Any]]) -> Optional[str]:
    """The base as stored: canonical JSON text (values are payload values, already JSON-shaped)."""
    return None if base is None else json.dumps(base, sort_keys=True, separators=(",", ":"), default=str)


def load(text: Optional[str]) -> Optional[dict[str, Any]]:
    return None if not text else json.loads(text)


def payload_of(base: Mapping[str, Any]) -> dict[str, Any]:
    """The payload a base stands for (its fingerprint is what the system is known to hold)."""
    payload: dict[str, Any] = {}
    for target, value in base.items():
        _put(payload, target, value)
    return payload


def _same(value: Any, other: Any) -> bool:
    return dump({"v": value}) == dump({"v": other})


def partial(obj: ExternalObject, payload: Mapping[str, Any], base: Mapping[str, Any]) -> dict[str, Any]:
    """The part of an update's payload whose catalog value differs from the base: each changed target's top-level
    key, whole (a system replaces a nested hash such as Stripe's `address` as a unit; metadata keys merge).
    Empty when nothing differs."""
    sent: dict[str, Any] = {}
    create_only = set(obj.create_only_targets)
    for f in obj.outbound_fields:
        if f.target in create_only:
            continue
        if f.target not in base or not _same(external_value(payload, f.target), base[f.target]):
            top = f.target.split(".")[0]
            if top in payload:
                sent[top] = payload[top]
    return sent


@dataclass(frozen=True)
class FieldConflict:
    """One field changed on both sides to different values, and how its rule settled it."""

    field: Field
    catalog_value: Any  # payload form
    system_value: Any  # the system's raw value
    system_at: dt.datetime
    rule: str
    winner: str  # catalog | system


@dataclass
class Merge:
    take: dict[str, tuple[Field, Any]]  # target -> (field, the system's raw value), for the catalog to take
    base: dict[str, Any]  # the base once the system's values are known to the mapping
    conflicts: list[FieldConflict]


def _rule_winner(f: Field, system_at: dt.datetime, catalog_at: Optional[dt.datetime]) -> str:
    if f.conflict == SYSTEM_WINS:
        return SYSTEM
    if f.conflict == CATALOG_WINS or f.conflict != NEWEST_WINS:
        return CATALOG
    # Newest wins; a catalog edit without a time, or in the same instant, keeps its value (never a silent loss:
    # either way the conflict is recorded).
    return SYSTEM if catalog_at is not None and system_at > catalog_at else CATALOG


def merge(fields: Sequence[Field], base: Mapping[str, Any], catalog: Mapping[str, Any], state: Mapping[str, Any],
          system_at: dt.datetime, catalog_at: Optional[dt.datetime], hints: Optional[frozenset[str]] = None,
          overwritten: Sequence[tuple[Mapping[str, Any], frozenset[str], dt.datetime]] = (),
          ours: frozenset[tuple[str, str]] = frozenset(), pending: Mapping[str, Any] = {}) -> Merge:
    """Merge one object's state into its row, field by field.

    `fields`: the object's two-way fields; `catalog`: the row's payload (by target); `state`: the object as the
    system reports it; `hints`: the targets the system says the change touched (Stripe's previous_attributes),
    None when it gives none; `overwritten`: earlier changes of the system (state, hinted targets, time) that a
    later write of zensync's replaced before they were applied: a field they changed is still the system's edit;
    `ours`: (target, JSON value) zensync's own writes set: such a value is no one's edit (its outcome may not be
    recorded yet), the base just learns it; `pending`: the values of zensync's update in flight (target ->
    payload value, the intent's pending base): a system value equal to one, where it differs from the base, is
    that write's (a kill before its bookkeeping left the base without it), the same.
    """
    take: dict[str, tuple[Field, Any]] = {}
    new_base = dict(base)
    conflicts: list[FieldConflict] = []
    for f in fields:
        b, c = comparable(f, base.get(f.target)), comparable(f, catalog.get(f.target))
        raw = external_value(state, f.target)
        s, at = comparable(f, raw), system_at
        if s == b or (hints is not None and f.target not in hints):
            # Not changed by this change; an earlier edit a later write of zensync's replaced still counts.
            earlier = [(external_value(st, f.target), t) for st, touched, t in overwritten if f.target in touched]
            earlier = [(value, t) for value, t in earlier if comparable(f, value) != b]
            if not earlier:
                continue
            raw, at = earlier[-1]
            s = comparable(f, raw)
            if c == s:
                continue
            winner = _rule_winner(f, at, catalog_at)
            conflicts.append(FieldConflict(f, catalog.get(f.target), raw, at, f.conflict or NEWEST_WINS, winner))
            if winner == SYSTEM:
                take[f.target] = (f, raw)
            continue
        new_base[f.target] = raw  # the system holds this value now, whoever wins
        if (f.target, json.dumps(raw, sort_keys=True, default=str)) in ours \
                or (f.target in pending and comparable(f, pending[f.target]) == s):
            continue
        if c == b or c == s:
            take[f.target] = (f, raw)  # only the system changed it (or both to the same value: no conflict)
            continue
        winner = _rule_winner(f, at, catalog_at)
        conflicts.append(FieldConflict(f, catalog.get(f.target), raw, at, f.conflict or NEWEST_WINS, winner))
        if winner == SYSTEM:
            take[f.target] = (f, raw)
    return Merge(take, new_base, conflicts)
