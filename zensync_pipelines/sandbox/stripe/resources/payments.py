"""Card payments of invoices and their refunds: /v1/payment_intents, /v1/charges, /v1/invoice_payments (read) and
/v1/refunds (create, read).

Paying an invoice with a test card (invoice_actions.py calls `pay_by_card`) makes a Charge of the invoice's
PaymentIntent, which an InvoicePayment links to the invoice (both made at the first attempt), emitting what
Stripe emits:
`payment_intent.created`, `charge.succeeded` / `charge.failed`, `payment_intent.succeeded` /
`payment_intent.payment_failed` and `invoice_payment.paid`. A refund (of a charge or of a payment intent, whole
or partial) moves the charge's `amount_refunded` and `refunded`, with `refund.created` and `charge.refunded`.
A charge's `refunds` list comes only with `expand[]=refunds`, as in Stripe since API version 2022-11-15.
"""

from __future__ import annotations

from typing import Any, Optional

from ..api import Call
from ..errors import StripeError, invalid, missing
from ..host import StripeHost
from ..querying import LIST_PARAMS, range_filter
from ..store import Obj
from .payment_objects import (CARDS, DECLINE_MESSAGE, DECLINED, new_charge, new_invoice_payment,
                              new_payment_intent, new_refund, payment_method_object)

REFUND_REASONS = ("duplicate", "fraudulent", "requested_by_customer")


def pay_by_card(sb: StripeHost, call: Optional[Call], invoice: Obj, method: str, amount: int) -> None:
    """Charge `amount` of `invoice` to the test card `method`; a declined card raises Stripe's 402 card_error
    after recording the failed charge (Stripe keeps it, and so does the customer's payment history)."""
    store, events = sb.store, sb.events
    if method not in CARDS:
        raise missing(method, "payment_method", "PaymentMethod")
    declined = method in DECLINED
    # Like Stripe, an invoice keeps one (default) PaymentIntent and InvoicePayment across its attempts: a retry
    # after a decline charges the same intent again, so every charge of the invoice links to it.
    link = store.find(invoice.get("_invoice_payment") or "")
    if link is None:
        intent = store.insert(new_payment_intent(store, amount, invoice["currency"], invoice["customer"], method))
        events.emit(call, "payment_intent.created", intent)
        link = store.insert(new_invoice_payment(store, invoice, intent))
        invoice["_invoice_payment"] = link["id"]
    intent = store.get(link["payment"]["payment_intent"], "payment_intent")
    intent.update(payment_method=method, last_payment_error=None)
    charge = store.insert(new_charge(store, intent, method, declined))
    intent["latest_charge"] = charge["id"]
    if declined:
        intent["last_payment_error"] = {
            "charge": charge["id"], "code": "card_declined", "decline_code": "generic_decline",
            "doc_url": "https://stripe.com/docs/error-codes/card-declined", "message": DECLINE_MESSAGE,
            "param": None, "payment_method": payment_method_object(store, method, intent["customer"]),
            "type": "card_error"}
        store.touched(intent)
        events.emit(call, "charge.failed", charge)
        events.emit(call, "payment_intent.payment_failed", intent)
        invoice["attempted"], invoice["attempt_count"] = True, invoice["attempt_count"] + 1
        store.touched(invoice)
        events.emit(call, "invoice.payment_failed", invoice)
        raise StripeError(402, DECLINE_MESSAGE, type="card_error", code="card_declined", param="payment_method",
                          extra={"decline_code": "generic_decline", "charge": charge["id"],
                                 "payment_intent": store.render(intent)})
    intent.update(status="succeeded", amount_received=amount)
    store.touched(intent)
    link.update(status="paid", amount_paid=amount)
    link["status_transitions"]["paid_at"] = store.now()
    store.touched(link)
    events.emit(call, "charge.succeeded", charge)
    events.emit(call, "payment_intent.succeeded", intent)
    events.emit(call, "invoice_payment.paid", link)


def _refundable(sb: StripeHost, charge_id: Optional[str], intent_id: Optional[str]) -> Obj:
    if charge_id and intent_id:
        raise invalid("You cannot pass both charge and payment_intent.", param="charge")
    if not charge_id and not intent_id:
        raise invalid("One of the following params should be provided for this request: payment_intent or "
                      "charge.", code="parameter_missing", param="charge")
    if intent_id:
        intent = sb.store.get(intent_id, "payment_intent", "payment_intent")
        if intent["status"] != "succeeded" or not intent["latest_charge"]:
            raise invalid(f"This PaymentIntent ({intent_id}) does not have a successful charge to refund.",
                          code="charge_not_refundable", param="payment_intent")
        charge_id = intent["latest_charge"]
    charge = sb.store.get(str(charge_id), "charge", "charge")
    if charge["status"] != "succeeded":
        raise invalid(f"Charge {charge['id']} has failed and cannot be refunded.", code="charge_not_refundable",
                      param="charge")
    if charge["refunded"]:
        raise invalid(f"Charge {charge['id']} has already been refunded.", code="charge_already_refunded",
                      param="charge")
    return charge


def register(sb: StripeHost) -> None:
    store, events = sb.store, sb.events

    def create_refund(call: Call) -> dict[str, Any]:
        p = call.params(("charge", "payment_intent", "amount", "reason", "metadata"))
        reason, metadata, amount = p.enum("reason", REFUND_REASONS), p.metadata() or {}, p.int("amount", low=1)
        with store.lock:
            charge = _refundable(sb, p.str("charge"), p.str("payment_intent"))
            left = charge["amount"] - charge["amount_refunded"]
            amount = left if amount is None else amount
            if amount > left:
                raise invalid(f"Refund amount ({amount}) is greater than unrefunded amount on charge ({left})",
                              code="amount_too_large", param="amount")
            refund = store.insert(new_refund(store, charge, amount, reason, metadata))
            before = store.render(charge)
            charge["amount_refunded"] += amount
            charge["refunded"] = charge["amount_refunded"] == charge["amount"]
            store.touched(charge)
            events.emit(call, "refund.created", refund)
            events.emit(call, "charge.refunded", charge, before)
            return sb.reply(refund, p)

    def reader(object_type: str, url: str, filters: tuple[str, ...]) -> None:
        def retrieve(call: Call) -> dict[str, Any]:
            p = call.params()
            with store.lock:
                return sb.reply(store.get(call.id, object_type), p)

        def list_(call: Call) -> dict[str, Any]:
            p = call.params(LIST_PARAMS + filters)
            wanted, in_range = {name: p.str(name) for name in filters if name != "payment" and name in p}, \
                range_filter(p)
            payment = p.dict("payment", ("type", "payment_intent", "charge")) if "payment" in p else None
            with store.lock:
                found = (o for o in store.newest_first(object_type) if in_range(o)
                         and all(o.get(name) == value for name, value in wanted.items())
                         and all(o["payment"].get(k) == v for k, v in (payment or {}).items()))
                return sb.list_reply(p, found, url)

        sb.api("GET", url, list_)
        sb.api("GET", url + "/{id}", retrieve)

    def refunds_of(charge: Obj) -> Obj:
        """A charge's `refunds`, which Stripe returns only when expanded (since API 2022-11-15): the first ten,
        newest first, as Stripe embeds them."""
        mine = [store.render(r) for r in store.newest_first("refund") if r["charge"] == charge["id"]]
        return {"object": "list", "data": mine[:10], "has_more": len(mine) > 10,
                "url": f"/v1/charges/{charge['id']}/refunds"}

    store.includable[("charge", "refunds")] = refunds_of
    sb.api("POST", "/v1/refunds", create_refund)
    reader("refund", "/v1/refunds", ("charge", "payment_intent"))
    reader("charge", "/v1/charges", ("customer", "payment_intent"))
    reader("payment_intent", "/v1/payment_intents", ("customer",))
    reader("invoice_payment", "/v1/invoice_payments", ("invoice", "payment"))
