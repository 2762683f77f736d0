"""What a subscription bills: its periods, the invoice of a period (or of a trial), and prorations.

Prorations follow Stripe's classic billing mode (https://docs.stripe.com/billing/subscriptions/prorations): when an
item's price or quantity changes mid-period, the customer gets a credit for the unused time on the old item and a
charge for the remaining time on the new one, as two pending invoice items (`proration: true`) that the next
invoice of the subscription collects. The arithmetic is kept simple but Stripe-shaped: amount x (period end - now) /
(period end - period start), rounded to the cent, per item, no proration_date. `proration_behavior` decides
(https://docs.stripe.com/api/subscription_items/delete): `create_prorations` (the default) makes the items,
`none` makes none, `always_invoice` makes them and invoices them at once. A trial bills nothing, so nothing in a
trial prorates.
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Optional

from ..api import Call
from ..host import StripeHost
from ..store import Obj
from .billing import attach
from .invoices import DAY, new_invoice

PRORATIONS = ("create_prorations", "none", "always_invoice")


def period_end(start: int, interval: str, count: int = 1) -> int:
    """The end of the period that starts at `start`: calendar months and years, clamped to the month's end."""
    when = dt.datetime.fromtimestamp(start, dt.timezone.utc)
    months = count * (12 if interval == "year" else 1) if interval in ("month", "year") else 0
    if months:
        year, month = divmod(when.month - 1 + months, 12)
        year, month = when.year + year, month + 1
        day = min(when.day, calendar.monthrange(year, month)[1])
        return int(when.replace(year=year, month=month, day=day).timestamp())
    return start + count * (7 if interval == "week" else 1) * DAY


def interval_of(sb: StripeHost, sub: Obj) -> tuple[str, int]:
    recurring = sb.store.get(sub["_items"][0]["price"], "price")["recurring"]
    return recurring["interval"], recurring["interval_count"]


def _label(price: Obj, quantity: int) -> str:
    return f"{quantity} × {price['nickname'] or price['product']}"


def invoice_period(sb: StripeHost, call: Optional[Call], sub: Obj, reason: str, trial: bool = False) -> Obj:
    """The invoice for the subscription's current period, one line per item, finalized at once (Stripe finalizes a
    subscription's invoices as it makes them). A trial's invoice is for 0 (Stripe: "an immediate invoice is still
    created, but for $0", https://stripe.com/docs/billing/subscriptions/trials), so finalizing marks it paid. The
    subscription's pending prorations are collected on it."""
    store = sb.store
    customer = store.get(sub["customer"], "customer")
    invoice = new_invoice(sb, customer, sub["currency"])
    lines = []
    for item in sub["_items"]:
        price = store.get(item["price"], "price")
        amount = 0 if trial else int(price["unit_amount"]) * item["quantity"]
        label = f"Trial period for {price['nickname'] or price['product']}" if trial else \
            _label(price, item["quantity"])
        lines.append({
            "id": store.new_id("il_", 24), "object": "line_item", "amount": amount, "currency": sub["currency"],
            "description": label, "discount_amounts": [], "discountable": True, "discounts": [],
            "invoice": invoice["id"], "livemode": False, "metadata": dict(sub["metadata"]),
            "parent": {"type": "subscription_item_details", "invoice_item_details": None,
                       "subscription_item_details": {"invoice_item": None, "proration": False,
                                                     "proration_details": {"credited_items": None},
                                                     "subscription": sub["id"], "subscription_item": item["id"]}},
            "period": {"start": sub["_period_start"], "end": sub["_period_end"]}, "pretax_credit_amounts": [],
            "pricing": {"type": "price_details", "price_details": {"price": price["id"], "product": price["product"]},
                        "unit_amount_decimal": "0" if trial else price["unit_amount_decimal"]},
            "quantity": item["quantity"], "quantity_decimal": str(item["quantity"]), "subscription": sub["id"],
            "subtotal": amount, "taxes": []})
    invoice.update(_lines=lines, period_start=sub["_period_start"], period_end=sub["_period_end"])
    for pending in pending_prorations(sb, sub):
        attach(invoice, pending)
    return _issue(sb, call, sub, invoice, reason)


def _issue(sb: StripeHost, call: Optional[Call], sub: Obj, invoice: Obj, reason: str) -> Obj:
    invoice.update(
        billing_reason=reason, collection_method=sub["collection_method"], auto_advance=True,
        due_date=invoice["created"] + sub["days_until_due"] * DAY if sub["days_until_due"] is not None else None,
        parent={"type": "subscription_details", "quote_details": None,
                "subscription_details": {"metadata": dict(sub["metadata"]), "subscription": sub["id"]}})
    sb.store.insert(invoice)
    sb.events.emit(call, "invoice.created", invoice)
    sb.finalize_invoice(call, invoice)
    sub["latest_invoice"] = invoice["id"]
    return invoice


def pending_prorations(sb: StripeHost, sub: Obj) -> list[Obj]:
    """The subscription's proration items no invoice has collected yet, oldest first."""
    return [item for item in reversed(list(sb.store.newest_first("invoiceitem")))
            if item.get("_subscription") == sub["id"] and item["invoice"] is None]


def prorate(sb: StripeHost, call: Optional[Call], sub: Obj, before: list[Obj], after: list[Obj], behavior: str,
            credit_only: bool = False) -> list[Obj]:
    """The proration items for items going from `before` to `after` (lists of `_items` entries) now; with
    `always_invoice`, invoiced at once. `credit_only`: the period ends now (a new interval), so only the unused
    time is credited and the new period is invoiced in full by its own invoice."""
    if behavior == "none" or sub["status"] == "trialing":
        return []
    store, now = sb.store, sb.store.now()
    start, end = sub["_period_start"], sub["_period_end"]
    share = min(max((end - now) / (end - start), 0.0), 1.0) if end > start else 0.0
    old, new = {i["id"]: i for i in before}, {i["id"]: i for i in after}
    made: list[Obj] = []
    for item_id in list(old) + [i for i in new if i not in old]:
        was, now_is = old.get(item_id), None if credit_only else new.get(item_id)
        if was and now_is and (was["price"], was["quantity"]) == (now_is["price"], now_is["quantity"]):
            continue
        for entry, sign, words in ((was, -1, "Unused time on"), (now_is, 1, "Remaining time on")):
            if entry is None or not entry["quantity"]:
                continue
            price = store.get(entry["price"], "price")
            amount = sign * round(int(price["unit_amount"]) * entry["quantity"] * share)
            made.append(_proration_item(sb, sub, entry, price, amount, f"{words} {_label(price, entry['quantity'])} "
                                        f"after {dt.datetime.fromtimestamp(now, dt.timezone.utc):%d %b %Y}", now))
    for item in made:
        store.insert(item)
        sb.events.emit(call, "invoiceitem.created", item)
    if behavior == "always_invoice" and made and not credit_only:
        invoice = new_invoice(sb, store.get(sub["customer"], "customer"), sub["currency"])
        for item in made:
            attach(invoice, item)
        _issue(sb, call, sub, invoice, "subscription_update")
    return made


def _proration_item(sb: StripeHost, sub: Obj, entry: Obj, price: Obj, amount: int, description: str,
                    now: int) -> Obj:
    store = sb.store
    return {
        "id": store.new_id("ii_", 24), "object": "invoiceitem", "amount": amount, "currency": sub["currency"],
        "customer": sub["customer"], "customer_account": None, "date": now, "description": description,
        "discountable": False, "discounts": [], "invoice": None, "livemode": False, "metadata": {},
        "net_amount": amount,
        "parent": {"type": "subscription_details",
                   "subscription_details": {"subscription": sub["id"], "subscription_item": entry["id"]}},
        "period": {"start": now, "end": sub["_period_end"]},
        "pricing": {"type": "price_details", "price_details": {"price": price["id"], "product": price["product"]},
                    "unit_amount_decimal": price["unit_amount_decimal"]},
        "proration": True, "proration_details": {"credited_items": None, "discount_amounts": []},
        "quantity": entry["quantity"], "quantity_decimal": str(entry["quantity"]), "tax_rates": [],
        "test_clock": None, "_line": store.new_id("il_", 24), "_unit": amount / entry["quantity"],
        "_subscription": sub["id"], "_subscription_item": entry["id"],
    }
