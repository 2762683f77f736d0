"""What invoices and invoice items share: building items from params, line items, totals and the draft guard.

An invoice stores only the ids of its items (`_items`); its lines and totals are computed when it is rendered, so
they can never drift from the items. Items can only change while the invoice is a draft, as in Stripe, which makes
the computed lines of a finalized invoice as frozen as Stripe's.
"""

from __future__ import annotations

from typing import Any, Optional

from ..api import Call
from ..errors import invalid, not_editable, validation
from ..forms import Params, merge_metadata
from ..host import StripeHost
from ..store import Obj, Store
from .catalog import currency, new_price


ITEM_FIELDS = ("amount", "currency", "customer", "description", "discountable", "invoice", "metadata", "period",
               "price_data", "pricing", "quantity")
LINE_FIELDS = ("amount", "description", "discountable", "invoice_item", "metadata", "period", "price_data",
               "pricing", "quantity")
EMBEDDED_LINES = 10  # Stripe embeds the first 10 lines; the rest are paged through /lines


def require_draft(invoice: Obj, action: str) -> None:
    if invoice["status"] != "draft":
        raise not_editable(f"You can only {action} draft invoices; invoice {invoice['id']} is {invoice['status']}.")


def item_amounts(sb: StripeHost, p: Params, quantity: int) -> dict[str, Any]:
    """Amount, currency and pricing of an item from `amount`, `pricing[price]` or `price_data`."""
    sources = [name for name in ("amount", "pricing", "price_data") if name in p]
    if len(sources) != 1:
        raise validation("You must specify exactly one of amount, pricing[price] or price_data.",
                         "parameter_missing", "amount")
    if sources == ["amount"]:
        amount = p.int("amount") or 0
        return {"amount": amount, "currency": currency(p, required=False), "pricing": None,
                "_unit": amount / quantity if quantity else 0}
    if sources == ["pricing"]:
        price_id = (p.dict("pricing", ("price",)) or {}).get("price") or ""
        price = sb.store.get(price_id, "price", param="pricing[price]")
        if price["type"] != "one_time":
            raise invalid("The price specified is set to `type=recurring` but this field only accepts prices with "
                          "`type=one_time`.", param="pricing[price]", saved=False)
        if not price["active"]:
            raise invalid(f"The price `{price_id}` is not active.", param="pricing[price]", saved=False)
    else:
        data = Params(p.dict("price_data", ("currency", "product", "unit_amount", "unit_amount_decimal",
                                            "tax_behavior")) or {}, ("currency", "product", "unit_amount",
                                                                     "unit_amount_decimal", "tax_behavior"))
        product = sb.store.get(data.str("product", required=True) or "", "product", param="price_data[product]")
        price = new_price(sb, data, product["id"])
        price["active"] = False  # inline prices are single-use, like Stripe's
        sb.store.insert(price)
    return {"amount": int(price["unit_amount"]) * quantity, "currency": price["currency"],
            "_unit": price["unit_amount"],
            "pricing": {"type": "price_details", "price_details": {"price": price["id"], "product": price["product"]},
                        "unit_amount_decimal": price["unit_amount_decimal"]}}


def new_item(sb: StripeHost, p: Params, customer_id: str, invoice: Optional[Obj]) -> Obj:
    store = sb.store
    quantity = p.int("quantity", default=1, low=0) or 0
    priced = item_amounts(sb, p, quantity)
    if priced["currency"] is None:
        priced["currency"] = invoice["currency"] if invoice else None
        if priced["currency"] is None:
            raise validation("Missing required param: currency.", "parameter_missing", "currency")
    if invoice is not None and priced["currency"] != invoice["currency"]:
        raise invalid(f"The currency of this invoice item ({priced['currency']}) must match the invoice's "
                      f"({invoice['currency']}).", param="currency", saved=False)
    now = store.now()
    period = p.dict("period", ("start", "end")) or {"start": str(now), "end": str(now)}
    item = {
        "id": store.new_id("ii_", 24), "object": "invoiceitem", "customer": customer_id, "customer_account": None,
        "date": now, "description": p.str("description"), "discountable": p.bool("discountable", True),
        "discounts": [], "invoice": invoice["id"] if invoice else None, "livemode": False,
        "metadata": merge_metadata({}, p.metadata()), "net_amount": priced["amount"], "parent": None,
        "period": {"start": int(period.get("start", now)), "end": int(period.get("end", now))},
        "proration": False, "quantity": quantity, "quantity_decimal": str(quantity), "tax_rates": [],
        "test_clock": None, "_line": store.new_id("il_", 24), **priced,
    }
    return item


def attach(invoice: Obj, item: Obj) -> None:
    item["invoice"] = invoice["id"]
    invoice["_items"].append(item["id"])


def detach(store: Store, item: Obj) -> None:
    if item["invoice"]:
        store.get(item["invoice"], "invoice")["_items"].remove(item["id"])
        item["invoice"] = None


def line(item: Obj) -> Obj:
    """An item's line on its invoice; a subscription's proration item is a line of its subscription item, as in
    Stripe's invoices (`parent.subscription_item_details` with `proration: true` and the invoice item)."""
    if item.get("_subscription_item"):
        parent = {"type": "subscription_item_details", "invoice_item_details": None,
                  "subscription_item_details": {"invoice_item": item["id"], "proration": True,
                                                "proration_details": {"credited_items": None},
                                                "subscription": item["_subscription"],
                                                "subscription_item": item["_subscription_item"]}}
    else:
        parent = {"type": "invoice_item_details", "subscription_item_details": None,
                  "invoice_item_details": {"invoice_item": item["id"], "proration": False,
                                           "proration_details": {"credited_items": None}, "subscription": None}}
    return {
        "id": item["_line"], "object": "line_item", "amount": item["amount"], "currency": item["currency"],
        "description": item["description"], "discount_amounts": [], "discountable": item["discountable"],
        "discounts": [], "invoice": item["invoice"], "livemode": False, "metadata": dict(item["metadata"]),
        "parent": parent, "period": dict(item["period"]), "pretax_credit_amounts": [], "pricing": item["pricing"],
        "quantity": item["quantity"], "quantity_decimal": item["quantity_decimal"],
        "subscription": item.get("_subscription"),
        "subtotal": item["amount"], "taxes": [],
    }


def invoice_lines(store: Store, invoice: Obj) -> list[Obj]:
    """Its subscription's lines (`_lines`, fixed when a subscription invoices a period), then its items'."""
    return [dict(entry) for entry in invoice.get("_lines", ())] + \
        [line(store.get(item_id, "invoiceitem")) for item_id in invoice["_items"]]


def render_invoice(store: Store, invoice: Obj) -> Obj:
    lines = invoice_lines(store, invoice)
    total = sum(entry["amount"] for entry in lines)
    remaining = 0 if invoice["status"] in ("paid", "void") else max(total - invoice["amount_paid"], 0)
    return {
        **invoice, "subtotal": total, "subtotal_excluding_tax": total, "total": total,
        "total_excluding_tax": total, "amount_due": total, "amount_remaining": remaining,
        "lines": {"object": "list", "data": lines[:EMBEDDED_LINES], "has_more": len(lines) > EMBEDDED_LINES,
                  "url": f"/v1/invoices/{invoice['id']}/lines"},
    }


def invoice_changed(sb: StripeHost, call: Call, invoice: Obj, before: Obj) -> None:
    """Emit invoice.updated (with previous_attributes) if rendering shows a change, e.g. new totals."""
    if sb.store.render(invoice) != before:
        sb.store.touched(invoice)
        sb.events.emit(call, "invoice.updated", invoice, before)
