"""An object's current state read from Stripe, for the inbound engine when events alone cannot order a change
(engine.inbound.types.StateFetcher). Through the adapter's client: same limiter, same 429 backoff, counted."""

from __future__ import annotations

from typing import Any, Mapping, Optional

import stripe

from .adapter import StripeAdapter
from .objects import describe


class StripeCurrentState:
    def __init__(self, adapter: StripeAdapter, links: Optional[Any] = None):
        self.adapter, self.links = adapter, links  # links: systems/stripe/links.py, as the decoder's

    @property
    def api_calls(self) -> int:
        return self.adapter.api_calls

    def fetch(self, object_type: str, external_id: str) -> Optional[Mapping[str, Any]]:
        service = getattr(self.adapter.client.v1, describe(object_type).resource)
        try:
            found = self.adapter._call(service.retrieve, external_id)
        except stripe.InvalidRequestError as error:
            if error.code == "resource_missing":
                return None  # a deleted draft invoice, or any object gone for good
            raise
        state = found.to_dict()
        if state.get("deleted"):
            return None  # a deleted customer answers {"deleted": true}
        return self.links.complete(object_type, state) if self.links is not None else state
