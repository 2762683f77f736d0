"""/v1/invoiceitems: pending items wait for the customer's next invoice; items on a draft change its totals."""

from __future__ import annotations

from typing import Any

from ..api import Call
from ..errors import invalid
from ..forms import merge_metadata
from ..host import StripeHost
from ..querying import LIST_PARAMS, range_filter
from .billing import ITEM_FIELDS, attach, detach, invoice_changed, new_item, require_draft


UPDATABLE = ("amount", "description", "discountable", "metadata", "period", "quantity")


def register(sb: StripeHost) -> None:
    store, events = sb.store, sb.events

    def create(call: Call) -> dict[str, Any]:
        p = call.params(ITEM_FIELDS)
        invoice_id, customer_id = p.str("invoice"), p.str("customer", required="invoice" not in call.raw)
        with store.lock:
            invoice = store.get(invoice_id, "invoice", param="invoice") if invoice_id else None
            customer_id = customer_id or invoice["customer"]
            store.get(customer_id, "customer", param="customer")
            if invoice is not None:
                require_draft(invoice, "add invoice items to")
                if invoice["customer"] != customer_id:
                    raise invalid("The invoice item's customer must be the invoice's customer.", param="invoice")
            before = store.render(invoice) if invoice else None
            item = new_item(sb, p, customer_id, invoice)
            store.insert(item)
            if invoice is not None:
                attach(invoice, item)
            events.emit(call, "invoiceitem.created", item)
            if invoice is not None and before is not None:
                invoice_changed(sb, call, invoice, before)
            return sb.reply(item, p)

    def retrieve(call: Call) -> dict[str, Any]:
        p = call.params()
        with store.lock:
            return sb.reply(store.get(call.id, "invoiceitem"), p)

    def update(call: Call) -> dict[str, Any]:
        p = call.params(UPDATABLE)
        quantity, amount, description = p.int("quantity", low=0), p.int("amount"), p.str("description")
        discountable, period, metadata = p.bool("discountable"), p.dict("period", ("start", "end")), p.metadata()
        with store.lock:
            item = store.get(call.id, "invoiceitem")
            invoice = store.get(item["invoice"], "invoice") if item["invoice"] else None
            if invoice is not None:
                require_draft(invoice, "update invoice items on")
            before, invoice_before = store.render(item), store.render(invoice) if invoice else None
            if quantity is not None:
                item["quantity"], item["quantity_decimal"] = quantity, str(quantity)
                item["amount"] = round(item["_unit"] * quantity)
            if amount is not None:
                item["amount"] = amount
            item["net_amount"] = item["amount"]
            if "description" in p:
                item["description"] = description
            if discountable is not None:
                item["discountable"] = discountable
            if period:
                item["period"] = {"start": int(period["start"]), "end": int(period["end"])}
            item["metadata"] = merge_metadata(item["metadata"], metadata)
            if store.render(item) != before:
                # Stripe has no `invoiceitem.updated` event type (anymore): an item's change shows only as its
                # draft invoice's `invoice.updated`, below.
                store.touched(item)
            if invoice is not None and invoice_before is not None:
                invoice_changed(sb, call, invoice, invoice_before)
            return sb.reply(item, p)

    def delete(call: Call) -> dict[str, Any]:
        call.params()
        with store.lock:
            item = store.get(call.id, "invoiceitem")
            invoice = store.get(item["invoice"], "invoice") if item["invoice"] else None
            if invoice is not None:
                require_draft(invoice, "delete invoice items from")
            invoice_before = store.render(invoice) if invoice else None
            stub = store.delete(item)
            events.emit(call, "invoiceitem.deleted", item)
            if invoice is not None and invoice_before is not None:
                detach(store, item)
                invoice_changed(sb, call, invoice, invoice_before)
            return stub

    def list_(call: Call) -> dict[str, Any]:
        p = call.params(LIST_PARAMS + ("customer", "invoice", "pending"))
        customer, invoice, pending, in_range = p.str("customer"), p.str("invoice"), p.bool("pending"), range_filter(p)
        with store.lock:
            found = (i for i in store.newest_first("invoiceitem") if in_range({"created": i["date"]})
                     and (customer is None or i["customer"] == customer)
                     and (invoice is None or i["invoice"] == invoice)
                     and (pending is None or (i["invoice"] is None) == pending))
            return sb.list_reply(p, found, "/v1/invoiceitems")

    def locks_for_create(call: Call) -> list[str]:
        invoice = call.raw.get("invoice")
        return [invoice] if isinstance(invoice, str) else []  # adding to a draft writes the draft

    sb.api("POST", "/v1/invoiceitems", create, lock=locks_for_create)
    sb.api("GET", "/v1/invoiceitems", list_)
    sb.api("GET", "/v1/invoiceitems/{id}", retrieve)
    sb.api("POST", "/v1/invoiceitems/{id}", update)
    sb.api("DELETE", "/v1/invoiceitems/{id}", delete)
