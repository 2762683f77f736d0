"""Every state change becomes a Stripe event: stored for `GET /v1/events` and handed to webhook delivery.

An event of a connected account is stored in that account and carries its id in a top-level `account` field, as
Stripe's Connect events do; the platform's own events have no such field."""

from __future__ import annotations

from typing import Any, Callable, Optional

from .api import Call
from .store import Obj, Store

API_VERSION = "2026-10-28.endive"  # the version stripe-python 16.1.0 pins; events carry it like Stripe's do
RETENTION_SECONDS = 30 * 24 * 3600  # the Events API only lists the last 30 days


def previous_attributes(before: Obj, after: Obj) -> dict[str, Any]:
    """Stripe's `previous_attributes`: old values of changed fields; within hashes only the changed keys."""
    changed: dict[str, Any] = {}
    for key, old in before.items():
        new = after.get(key)
        if old == new:
            continue
        if isinstance(old, dict) and isinstance(new, dict):
            changed[key] = {k: old.get(k) for k in set(old) | set(new) if old.get(k) != new.get(k)}
        else:
            changed[key] = old
    return changed


class EventLog:
    def __init__(self, store: Store, deliver: Callable[[Obj], None], account: Callable[[], Optional[str]]):
        self._store = store  # the store of the account the current request acts in
        self._deliver = deliver  # queues the event for matching endpoints and sets its pending_webhooks
        self._account = account  # that account's id, None on the platform

    def emit(self, call: Optional[Call], event_type: str, obj: Obj, before: Optional[Obj] = None) -> Obj:
        """Record `event_type` for `obj`; pass the rendered `before` of an update to get previous_attributes."""
        with self._store.lock:
            snapshot = self._store.render(obj)
            data: dict[str, Any] = {"object": snapshot}
            if before is not None:
                data["previous_attributes"] = previous_attributes(before, snapshot)
            event: Obj = {"id": self._store.new_id("evt_", 24), "object": "event"}
            account = self._account()
            if account is not None:
                event["account"] = account
            event.update({
                "api_version": API_VERSION,
                # Every event one request causes carries the same second, as Stripe's do.
                "created": call.extra.setdefault("events_created", self._store.now()) if call else self._store.now(),
                "data": data,
                "livemode": False,
                "pending_webhooks": 0,
                "request": call.origin if call else {"id": None, "idempotency_key": None},
                "type": event_type,
            })
            self._store.insert(event)
            self._deliver(event)
            return event

    def delivered(self, event_id: str) -> None:
        with self._store.lock:
            event = self._store.find(event_id)
            if event is not None and event["pending_webhooks"] > 0:
                event["pending_webhooks"] -= 1
                self._store.touched(event)


def type_filter(wanted: Optional[str], wanted_any: Optional[list[str]]) -> Callable[[Obj], bool]:
    """`type` accepts one wildcard (`invoice.*`); `types[]` is an exact list."""
    def matches(event: Obj) -> bool:
        if wanted is not None:
            if wanted.endswith(".*"):
                if not event["type"].startswith(wanted[:-1]):
                    return False
            elif event["type"] != wanted:
                return False
        return wanted_any is None or event["type"] in wanted_any

    return matches
