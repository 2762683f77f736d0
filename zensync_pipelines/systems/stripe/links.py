"""What a Stripe object's own state no longer says and a catalog reads: the invoice a Charge paid.

Since API version 2025-03-31 neither a Charge nor a PaymentIntent names its invoice: the InvoicePayment links them
(`GET /v1/invoice_payments?payment[type]=payment_intent&payment[payment_intent]=pi_...`, strongly consistent,
unlike search). The inbound reader adds it to a charge's state as `invoice` (the field the API had before; no
field of the current Charge has that name), or None for a charge no invoice asked for. One list call per charge
of a run (cached by payment intent), through the adapter's client: same limiter, same backoff, counted.
"""

from __future__ import annotations

from typing import Any, Mapping, Optional

from .adapter import StripeAdapter


class ChargeInvoices:
    def __init__(self, adapter: StripeAdapter):
        self.adapter = adapter
        self._by_intent: dict[str, Optional[str]] = {}

    def complete(self, object_type: str, state: Mapping[str, Any]) -> Mapping[str, Any]:
        """`state` with what the object links to; objects other than charges as they are."""
        if object_type != "charge" or "invoice" in state:
            return state
        return {**state, "invoice": self.invoice_of(state.get("payment_intent"))}

    def invoice_of(self, intent: Any) -> Optional[str]:
        intent = intent.get("id") if isinstance(intent, Mapping) else intent
        if not intent:
            return None  # a charge made without a PaymentIntent pays no invoice
        if intent not in self._by_intent:
            found = self.adapter._call(self.adapter.client.v1.invoice_payments.list, params={
                "payment": {"type": "payment_intent", "payment_intent": intent}, "limit": 1})
            self._by_intent[intent] = str(found.data[0].invoice) if found.data else None
        return self._by_intent[intent]
