"""Subscriptions: one item on one Price, moved (never duplicated) when the price changes, cancelled at period end
or now as the row says.

The payload is flat (`price`, `quantity`, `status`, ...): Stripe's items are a list whose existing item must be
named by id to be changed in place, which only a read of the subscription can tell. An update reads it and sends
only what differs, so a rerun sends nothing. `status` is Stripe's to report; the only status billing can set is
`canceled`, which cancels now (DELETE). A cancelled subscription cannot come back in Stripe: a catalog change to
one is a per-row conflict naming it, never a silent skip. Plan changes carry `proration_behavior=none`: billing
computes what a change costs and invoices it itself (the invoices catalog); Stripe's prorations would bill twice.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

import stripe

from .shared import ZENSKAR_ID, Conflict, drop_none, tagged, with_zenskar_id

CANCELED = "canceled"
ENDED = ("canceled", "incomplete_expired")
# Sent as they are; `price`, `quantity` and `status` are handled apart.
PLAIN = ("customer", "collection_method", "days_until_due", "cancel_at_period_end")


class SubscriptionHandler:
    retire = "cancel now (DELETE)"
    partial_updates = False  # reads the subscription and writes only what differs: wants the whole payload

    def __init__(self, client: stripe.StripeClient, call: Callable[..., Any]):
        self.subscriptions, self.call = client.v1.subscriptions, call

    def create(self, internal_id: str, payload: dict[str, Any], key: str) -> Any:
        if payload.get("status") == CANCELED:
            return None  # cancelled before Stripe ever saw it: nothing to mirror
        params = {name: payload.get(name) for name in PLAIN} | {
            "items": [{"price": payload["price"], "quantity": payload["quantity"]}],
            "metadata": with_zenskar_id(payload, internal_id)["metadata"]}
        if not params["cancel_at_period_end"]:
            params.pop("cancel_at_period_end")
        return self.call(self.subscriptions.create, params=drop_none(params), options={"idempotency_key": key})

    def update(self, external_id: str, internal_id: str, payload: dict[str, Any], key: str) -> Any:
        """The subscription as the last request left it (its start, status and time of cancel are Stripe's)."""
        sub = self.call(self.subscriptions.retrieve, external_id)
        if sub.status in ENDED:
            changed = self._changes(sub, internal_id, payload)
            if payload.get("status") == CANCELED or not changed:
                return sub  # both sides agree it is over
            raise Conflict("subscription_canceled", f"subscription {internal_id} ({sub.id}) is {sub.status} in "
                                                    f"Stripe and cannot change ({', '.join(sorted(changed))})",
                           "status")
        params = self._changes(sub, internal_id, payload)
        if params:
            if "items" in params:
                params["proration_behavior"] = "none"
            sub = self.call(self.subscriptions.update, sub.id, params=params, options={"idempotency_key": key})
        if payload.get("status") == CANCELED:
            sub = self._cancel(sub.id, key)
        return sub

    def delete(self, external_id: str, key: str) -> None:
        sub = self.call(self.subscriptions.retrieve, external_id)
        if sub.status not in ENDED:
            self._cancel(sub.id, key)

    def find(self, internal_id: str, payload: dict[str, Any]) -> Optional[str]:
        """A subscription an unrecorded attempt created: the customer's subscriptions, cancelled ones too."""
        listed = self.call(self.subscriptions.list, params={"customer": payload["customer"], "status": "all",
                                                            "limit": 100})
        for sub in listed.auto_paging_iter():
            if tagged(sub, ZENSKAR_ID, internal_id):
                return sub.id
        return None

    def _cancel(self, external_id: str, key: str) -> Any:
        # The key marks the cancel's event as zensync's own (an echo), though Stripe does not replay DELETEs.
        return self.call(self.subscriptions.cancel, external_id, options={"idempotency_key": f"{key}-cancel"})

    def _changes(self, sub: Any, internal_id: str, payload: dict[str, Any]) -> dict[str, Any]:
        """The parameters whose catalog value differs from the subscription's, items by the existing item's id."""
        params: dict[str, Any] = {}
        for name in PLAIN:
            if name != "customer" and name in payload and payload[name] != getattr(sub, name, None):
                params[name] = payload[name]
        if payload.get("customer") not in (None, sub.customer):
            raise Conflict("subscription_customer_fixed", f"subscription {internal_id} ({sub.id}) belongs to "
                                                          f"customer {sub.customer} in Stripe and cannot move to "
                                                          f"{payload['customer']}", "customer")
        items = sub["items"].data
        item = items[0] if items else None
        if item is None or item.price.id != payload["price"] or item.quantity != payload["quantity"]:
            entry = {"price": payload["price"], "quantity": payload["quantity"]}
            params["items"] = [entry | ({"id": item.id} if item is not None else {})]
            # Items others added by hand are removed: the catalog says one plan, one price.
            params["items"] += [{"id": extra.id, "deleted": True} for extra in items[1:]]
        metadata = with_zenskar_id(payload, internal_id)["metadata"]
        stored = sub.metadata.to_dict() if sub.metadata else {}
        if any(stored.get(k) != v for k, v in metadata.items()):
            params["metadata"] = {k: ("" if v is None else v) for k, v in metadata.items()}
        return params
