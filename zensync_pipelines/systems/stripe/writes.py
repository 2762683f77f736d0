"""One planned operation against one Stripe object: create (or recover, or adopt by lookup), update, replace,
retire, and the pointer another object of the row keeps to it (a product's `default_price`).

Every request carries a key derived from the operation's, so a rerun after a crash part-way through replays
what already happened instead of doing it twice. A 500 is stored by Stripe under its key and replayed to every
retry with that key, so creates and updates that meet one are retried inside the run under a new derived key
(a create first looks for the object the failed attempt may have made).
"""

from __future__ import annotations

from typing import Any, Optional

import stripe

from ...engine.types import CREATE, DELETE, DELETED, REPLACE, SYNCED, UPDATE, Operation, Outcome
from .shared import ZENSKAR_ID, ZENSKAR_OBJECT, tag_key

# Stripe refuses to archive a product's default price, so a pointer is cleared before its target is retired.


def tagged(op: Operation, partial: bool = False) -> dict[str, Any]:
    """The payload (of an update by a handler that takes partial updates: its changed fields only,
    engine/merge.py), plus the object's name in the row when a row has several objects of this type."""
    payload = op.sent if partial and op.action == UPDATE else op.payload
    if not op.resource_type:
        return payload
    return payload | {"metadata": dict(payload.get("metadata") or {}) | {ZENSKAR_OBJECT: op.object_type}}


def written(op: Operation, answer: Any, external_id: Optional[str]) -> Outcome:
    """The outcome of a write a handler answered with the object as Stripe returned it, or with its id alone
    (nothing left to read: a draft deleted), or None (nothing made). The object goes with the outcome only where
    the engine takes values from it (`op.seen`, engine/write_back.py): converting it costs time."""
    if answer is None or isinstance(answer, str):
        return Outcome.of(op, SYNCED, external_id=answer if answer is not None else external_id)
    return Outcome.of(op, SYNCED, external_id=answer.id,
                      returned=answer.to_dict() if op.seen is not None else None)


def _id(answer: Any) -> Optional[str]:
    return answer if answer is None or isinstance(answer, str) else answer.id


def own_tag(external_id_field: Optional[str]) -> dict[str, str]:
    """The `tag=` argument for a plain object whose catalog declares its own metadata key; nothing otherwise, so
    the handlers of invoices and subscriptions (zenskar_id only, enforced when specs load) are called as before."""
    tag = tag_key(external_id_field)
    return {} if tag == ZENSKAR_ID else {"tag": tag}


def write(adapter: Any, handler: Any, op: Operation) -> Outcome:
    # A handler that reads the object and writes only what differs (invoices) takes the whole payload.
    payload = tagged(op, getattr(handler, "partial_updates", False))
    mine = own_tag(op.external_id_field)
    if op.action == DELETE:
        if op.pointer is not None:
            _point(adapter, op, None, "-unpoint")
        _retire(handler, op.external_id, op.idempotency_key)
        return Outcome.of(op, DELETED)
    if op.action == REPLACE:
        made = _create(handler, op, payload, mine)
        _point(adapter, op, _id(made), "-point")
        _retire(handler, op.external_id, op.idempotency_key + "-retire")
        return written(op, made, None)
    if op.action == CREATE:
        found = handler.find(op.internal_id, payload, **mine) if op.recovering else None
        how = "-recovered"
        if found is None and op.lookup is not None and payload.get(op.lookup) is not None:
            found, how = handler.lookup(op.lookup, payload[op.lookup]), "-adopted"
        if found is None:
            answer = _create(handler, op, payload, mine)
        else:
            answer = handler.update(found, op.internal_id, payload, op.idempotency_key + how, **mine)
        _point(adapter, op, _id(answer), "-point")
        return written(op, answer, None)
    try:
        answer = handler.update(op.external_id, op.internal_id, payload, op.idempotency_key, **mine)
    except stripe.APIError as error:
        if not server_error(error):
            raise
        answer = handler.update(op.external_id, op.internal_id, payload, op.idempotency_key + "-retry", **mine)
    return written(op, answer, op.external_id)


def server_error(error: stripe.StripeError) -> bool:
    return isinstance(error, stripe.APIError) and (error.http_status or 500) >= 500


def _create(handler: Any, op: Operation, payload: dict[str, Any], mine: dict[str, str]) -> Any:
    """Create under the derived key; after a 500, do what recovery does: look for the object the failed attempt
    may have made, then create under a new key. Both steps are deterministic, so a crash in between still finds,
    never duplicates."""
    try:
        return handler.create(op.internal_id, payload, op.idempotency_key, **mine)
    except stripe.APIError as error:
        if not server_error(error):
            raise
    found = handler.find(op.internal_id, payload, **mine)
    if found is not None:
        return handler.update(found, op.internal_id, payload, op.idempotency_key + "-recovered", **mine)
    return handler.create(op.internal_id, payload, op.idempotency_key + "-retry", **mine)


def _retire(handler: Any, external_id: Optional[str], key: str) -> None:
    try:
        handler.delete(external_id, key)
    except stripe.InvalidRequestError as error:
        if error.code != "resource_missing":
            raise  # already gone is the outcome we wanted


def _point(adapter: Any, op: Operation, target: Optional[str], suffix: str) -> None:
    """Make the row's pointing object refer to `target` (None: to nothing)."""
    pointer = op.pointer
    if pointer is None or pointer.external_id is None:
        return
    owner = adapter.handler(pointer.object_type)
    owner.update(pointer.external_id, op.internal_id, {pointer.field: target}, op.idempotency_key + suffix,
                 **own_tag(pointer.external_id_field))
