"""Invoice state transitions: draft -> open (finalize) -> paid / void / uncollectible, as Stripe allows them.

Payments use Stripe's test payment methods instead of real cards: `pm_card_visa` (and other `pm_card_*` brands)
succeeds, `pm_card_chargeDeclined` / `pm_card_visa_chargeDeclined` is declined with a 402, each with its
PaymentIntent and Charge (payments.py), and `paid_out_of_band=true` records a payment made outside Stripe.
"""

from __future__ import annotations

from typing import Any, Optional

from ...core import Request, Response
from ..api import Call
from ..errors import StripeError, invalid, missing, not_editable
from ..forms import Params
from ..host import StripeHost
from ..store import Obj
from .payment_objects import CARDS, DECLINED, SUCCEEDS
from .payments import pay_by_card

__all__ = ["CARDS", "DECLINED", "SUCCEEDS", "register"]


def register(sb: StripeHost) -> None:
    store, events = sb.store, sb.events

    def finalize_draft(call: Optional[Call], invoice: Obj, auto_advance: Optional[bool]) -> None:
        now = store.now()
        customer = store.find(invoice["customer"])
        prefix = customer["invoice_prefix"] if customer else invoice["id"][3:11].upper()
        sequence = customer["next_invoice_sequence"] if customer else 1
        if customer is not None:
            customer["next_invoice_sequence"] = sequence + 1
            store.touched(customer)
        invoice.update(status="open", number=f"{prefix}-{sequence:04d}", effective_at=now, ending_balance=0)
        invoice["status_transitions"]["finalized_at"] = now
        if auto_advance is not None:
            invoice["auto_advance"] = auto_advance
        store.touched(invoice)
        events.emit(call, "invoice.finalized", invoice)
        if store.render(invoice)["amount_due"] == 0:  # Stripe marks a zero-amount invoice paid on finalization
            mark_paid(call, invoice, charged=False)

    def mark_paid(call: Optional[Call], invoice: Obj, charged: bool) -> None:
        invoice["amount_paid"] = store.render(invoice)["amount_due"]
        invoice["status"] = "paid"
        invoice["status_transitions"]["paid_at"] = store.now()
        if charged:
            invoice["attempted"], invoice["attempt_count"] = True, invoice["attempt_count"] + 1
        store.touched(invoice)
        events.emit(call, "invoice.paid", invoice)
        if charged:
            events.emit(call, "invoice.payment_succeeded", invoice)
        for hook in sb.invoice_paid:  # a past_due subscription whose invoice this was is active again
            hook(call, invoice)

    def run(call: Optional[Call], p: Any, invoice: Obj, act: Any) -> None:
        """One action; like Stripe, it ends with `invoice.updated` (previous_attributes: what the action changed)
        in the same second as its own events, also when it fails after changing something (a declined card)."""
        before = store.render(invoice)
        try:
            act(call, p, invoice)
        finally:
            if store.render(invoice) != before:
                events.emit(call, "invoice.updated", invoice, before)

    def transition(name: str, act: Any, allow: tuple[str, ...] = ()) -> None:
        def handler(call: Call) -> dict[str, Any]:
            p = call.params(allow)
            with store.lock:
                invoice = store.get(call.id, "invoice")
                run(call, p, invoice, act)
                return sb.reply(invoice, p)
        sb.api("POST", f"/v1/invoices/{{id}}/{name}", handler)
        automatic[name] = act

    def finalize(call: Optional[Call], p: Any, invoice: Obj) -> None:
        auto_advance = p.bool("auto_advance")
        if invoice["status"] != "draft":
            raise not_editable(f"This invoice is already finalized, you can't re-finalize a non-draft invoice "
                               f"({invoice['id']} is {invoice['status']}).")
        finalize_draft(call, invoice, auto_advance)

    def pay(call: Optional[Call], p: Any, invoice: Obj) -> None:
        out_of_band, method = p.bool("paid_out_of_band", False), p.str("payment_method") or p.str("source")
        if invoice["status"] == "paid":
            raise not_editable("Invoice is already paid.")
        if invoice["status"] == "void":
            raise not_editable(f"You can only pay open or uncollectible invoices; invoice {invoice['id']} is void.")
        if out_of_band and method:
            raise invalid("You cannot pass both paid_out_of_band and a payment method.", param="paid_out_of_band")
        if not out_of_band and method is None:
            raise invalid("This customer has no attached payment source or default payment method. Pass "
                          "`payment_method` (e.g. pm_card_visa) or `paid_out_of_band=true`.", param="payment_method")
        if method is not None and method not in CARDS:
            raise missing(method, "payment_method", "PaymentMethod")
        if invoice["status"] == "draft":  # paying a draft finalizes it first
            finalize_draft(call, invoice, None)
            if invoice["status"] == "paid":
                return
        if method is not None:  # a declined card raises the 402 here, after its failed charge is recorded
            pay_by_card(sb, call, invoice, method, store.render(invoice)["amount_remaining"])
        if out_of_band:  # the part of amount_paid settled outside Stripe; null until something is
            invoice["amount_paid_off_stripe"] = store.render(invoice)["amount_due"]
        mark_paid(call, invoice, charged=not out_of_band)

    def void(call: Optional[Call], p: Any, invoice: Obj) -> None:
        if invoice["status"] not in ("open", "uncollectible"):
            hint = " Delete a draft instead." if invoice["status"] == "draft" else ""
            raise not_editable(f"You can only void open or uncollectible invoices; invoice {invoice['id']} is "
                               f"{invoice['status']}.{hint}")
        invoice["status"] = "void"
        invoice["status_transitions"]["voided_at"] = store.now()
        store.touched(invoice)
        events.emit(call, "invoice.voided", invoice)

    def mark_uncollectible(call: Optional[Call], p: Any, invoice: Obj) -> None:
        if invoice["status"] != "open":
            raise not_editable(f"You can only mark open invoices as uncollectible; invoice {invoice['id']} is "
                               f"{invoice['status']}.")
        invoice["status"] = "uncollectible"
        invoice["status_transitions"]["marked_uncollectible_at"] = store.now()
        store.touched(invoice)
        events.emit(call, "invoice.marked_uncollectible", invoice)

    automatic: dict[str, Any] = {}

    def act_on_its_own(request: Request) -> Response:
        """What Stripe does without an API request (automatic collection charging a card, auto-finalization, ...):
        the same transition, but its events carry `request: {id: null, idempotency_key: null}`."""
        body = request.json() or {}
        action, invoice_id = body.get("action"), str(body.get("invoice") or "")
        if action not in automatic:
            return Response(400, {"error": f"action must be one of {sorted(automatic)}, got {action!r}"})
        params = Params({"payment_method": "pm_card_visa"} if action == "pay" else {}, ("payment_method",))
        try:
            with store.lock:
                invoice = store.get(invoice_id, "invoice")
                run(None, params, invoice, automatic[action])
                return Response(200, sb.reply(invoice, params))
        except StripeError as error:
            return error.response()

    # A subscription's invoices are finalized as they are made (resources/subscriptions.py).
    sb.finalize_invoice = lambda call, invoice: finalize_draft(call, invoice, None)
    sb.router.add("POST", "/_sandbox/automatic", act_on_its_own)
    transition("finalize", finalize, ("auto_advance",))
    transition("pay", pay, ("paid_out_of_band", "payment_method", "source"))
    transition("void", void)
    transition("mark_uncollectible", mark_uncollectible)
