"""How each zensync object type maps onto Stripe's API. A new Stripe object type is one more handler here."""

from __future__ import annotations

from typing import Any, Optional

import stripe

ZENSKAR_ID = "zenskar_id"  # metadata key that ties a Stripe object to its catalog row


def _drop_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    return value


def _clear_none(value: Any) -> Any:
    """Stripe clears a field (and removes a metadata key) when it is sent as an empty string."""
    if isinstance(value, dict):
        return {k: _clear_none(v) for k, v in value.items()}
    return "" if value is None else value


def with_zenskar_id(payload: dict[str, Any], internal_id: str) -> dict[str, Any]:
    return payload | {"metadata": dict(payload.get("metadata") or {}) | {ZENSKAR_ID: internal_id}}


class CustomerHandler:
    object_type = "customer"

    def __init__(self, client: stripe.StripeClient):
        self.service = client.v1.customers

    def create(self, internal_id: str, payload: dict[str, Any], key: str) -> str:
        params = _drop_none(with_zenskar_id(payload, internal_id))
        return self.service.create(params=params, options={"idempotency_key": key}).id

    def update(self, external_id: str, internal_id: str, payload: dict[str, Any], key: str) -> str:
        params = _clear_none(with_zenskar_id(payload, internal_id))
        return self.service.update(external_id, params=params, options={"idempotency_key": key}).id

    def delete(self, external_id: str) -> None:
        self.service.delete(external_id)

    def find(self, internal_id: str, payload: dict[str, Any]) -> Optional[str]:
        """Look for a customer an unrecorded earlier attempt may have created.

        Listing by email is strongly consistent, so it goes first; search lags writes by up to a minute, which
        suits its role here: finding an attempt made a run ago, whatever email it carried then.
        """
        email = payload.get("email")
        if email:
            for customer in self.service.list(params={"email": email, "limit": 100}).auto_paging_iter():
                if customer.metadata and customer.metadata.to_dict().get(ZENSKAR_ID) == internal_id:
                    return customer.id
        found = self.service.search(params={"query": f"metadata['{ZENSKAR_ID}']:'{internal_id}'"})
        return found.data[0].id if found.data else None


HANDLERS = {handler.object_type: handler for handler in (CustomerHandler,)}
