"""Idempotency keys: one per write intent, the same for a rerun of that intent after a crash, never reused.

A key is derived, never random, so a rerun after a crash sends the key of the write it interrupted and the system
replays that write's answer instead of doing it twice. What a key must never do is stand for two different
intents: Stripe keeps a key's first answer for 24 hours and replays it to any request with the same key and the
same parameters, so a value set back to an earlier one (A -> B -> A) would get A's first answer replayed and
nothing written.

So every mapping row (catalog row, system, object) carries a write sequence (`write_seq`, migration 0005). Each new
intent takes the next number and records it with the intent, before the call; a rerun of an intent that a crash
left `pending` takes the recorded number again. The key derives from (catalog, row, system, object, action,
fingerprint, sequence): stable across a crash of one intent, different for every other intent of the row,
whatever its payload. A failed attempt ends its intent too, so a retry gets a fresh key and never a replay of the
stored failure.

A replacement (a new object in place of one whose create-only field changed) is keyed by what it creates and the
object it replaces instead (`same_row.replace_fingerprint`), with no sequence: a retry after a failure part-way
(created, not yet retired) must find the object it created; and its success retires the object it replaces, so
no later intent replaces that object again.

A store bound to a tenant other than the default one gives a key scope (its tenant), which leads the material:
two tenants with the same catalog row id (each its customer 1) never share a key, whatever account they write
to. The default tenant's scope is empty and its keys are exactly those of a single-tenant deployment.

Keys derived before the sequence existed hashed the attempt count in the last place; `_SHAPE` marks the new
material, so no key of the old scheme can come back within Stripe's 24 hours after an upgrade.
"""

from __future__ import annotations

import hashlib
from typing import Optional

from .types import PENDING, MappingState

# Every Idempotency-Key zensync sends starts so: a system that reports the key with the change it caused (Stripe's
# event `request.idempotency_key`) lets the inbound side recognise its own writes' echoes.
IDEMPOTENCY_PREFIX = "zensync-"
_SHAPE = "seq"  # part of every key's material since the write sequence (never in the old attempt-based keys)


def next_write_seq(state: Optional[MappingState]) -> int:
    """The sequence number of the next write intent of a mapping row: the pending intent's own number when a run
    died between its intent and its outcome (the rerun must send the same key), else one past the last."""
    if state is None:
        return 1
    return state.write_seq if state.status == PENDING and state.write_seq else state.write_seq + 1


def update_material(fingerprint_: str, fields: Optional[tuple[str, ...]]) -> str:
    """What an update's key derives from besides the sequence: its fingerprint and, for a partial update, the
    fields it sends. A rerun of a pending intent sends the same fields under the same key; one whose base an inbound
    merge moved meanwhile sends other fields under another key (Stripe refuses a key reused with other
    parameters)."""
    return fingerprint_ if fields is None else f"{fingerprint_}|{','.join(fields)}"


def idempotency_key(catalog: str, internal_id: str, system: str, object_type: str, action: str,
                    fingerprint_: str, seq: int, scope: str = "") -> str:
    parts = (_SHAPE, catalog, internal_id, system, object_type, action, fingerprint_, str(seq))
    # "scope=" cannot begin a catalog's name (lower_snake_case), so a scoped key never meets an unscoped one.
    material = "|".join((parts[0], f"scope={scope}", *parts[1:]) if scope else parts)
    return IDEMPOTENCY_PREFIX + hashlib.sha256(material.encode()).hexdigest()[:40]
