"""/v1/invoices: drafts, their lines, updates, deletion, lists and search (state transitions: invoice_actions)."""

from __future__ import annotations

from typing import Any

from ..api import Call
from ..errors import invalid, not_editable, validation
from ..forms import Params, merge_metadata
from ..host import StripeHost
from ..querying import LIST_PARAMS, paginate, range_filter, search
from .billing import LINE_FIELDS, attach, detach, invoice_changed, invoice_lines, new_item, render_invoice, \
    require_draft


DAY = 24 * 3600
EDITABLE = ("auto_advance", "collection_method", "days_until_due", "due_date", "description", "footer", "metadata",
            "statement_descriptor")
FROZEN_ONCE_FINALIZED = {"collection_method", "days_until_due", "due_date"}
SEARCH_FIELDS = {"created", "currency", "customer", "number", "receipt_number", "status", "total"}


def _changes(p: Params, invoice: dict[str, Any]) -> dict[str, Any]:
    changes: dict[str, Any] = {name: p.str(name) for name in ("description", "footer", "statement_descriptor")
                               if name in p}
    if "auto_advance" in p:
        changes["auto_advance"] = p.bool("auto_advance")
    method = p.enum("collection_method", ("charge_automatically", "send_invoice")) or invoice["collection_method"]
    days, due = p.int("days_until_due", low=0), p.int("due_date")
    if method == "send_invoice" and days is None and due is None and invoice["due_date"] is None:
        raise validation("Invoices with `collection_method=send_invoice` need `days_until_due` or `due_date`.",
                         "parameter_missing", "days_until_due")
    if method == "charge_automatically" and (days is not None or due is not None):
        raise validation("You can only set `days_until_due` or `due_date` if `collection_method` is "
                         "`send_invoice`.", "parameter_invalid_integer", "days_until_due")
    changes["collection_method"] = method
    if days is not None:
        changes["due_date"] = invoice["created"] + days * DAY
    elif due is not None:
        changes["due_date"] = due
    elif method == "charge_automatically":
        changes["due_date"] = None
    return changes


def new_invoice(sb: StripeHost, customer: dict[str, Any], currency: str) -> dict[str, Any]:
    now = sb.store.now()
    return {
        "id": sb.store.new_id("in_", 24), "object": "invoice", "account_country": "US",
        "account_name": "Zensync Stripe sandbox", "account_tax_ids": None, "amount_overpaid": 0, "amount_paid": 0,
        "amount_paid_off_stripe": None, "amount_shipping": 0, "application": None, "attempt_count": 0,
        "attempted": False, "auto_advance": False,
        "automatic_tax": {"enabled": False, "liability": None, "status": None, "disabled_reason": None,
                          "provider": None},
        "automatically_finalizes_at": None, "billing_reason": "manual", "collection_method": "charge_automatically",
        "created": now, "currency": currency, "custom_fields": None, "customer": customer["id"],
        "customer_account": None, "customer_address": customer["address"], "customer_email": customer["email"],
        "customer_name": customer["name"], "customer_phone": customer["phone"],
        "customer_shipping": customer["shipping"], "customer_tax_exempt": customer["tax_exempt"],
        "customer_tax_ids": [], "default_payment_method": None, "default_source": None, "default_tax_rates": [],
        "description": None, "discounts": [], "due_date": None, "effective_at": None, "ending_balance": None,
        "footer": None, "from_invoice": None, "hosted_invoice_url": None, "invoice_pdf": None,
        "issuer": {"type": "self"}, "last_finalization_error": None, "latest_revision": None, "livemode": False,
        "metadata": {}, "next_payment_attempt": None, "number": None, "on_behalf_of": None, "parent": None,
        "payment_settings": {"default_mandate": None, "payment_method_options": None, "payment_method_types": None},
        "period_end": now, "period_start": now, "post_payment_credit_notes_amount": 0,
        "pre_payment_credit_notes_amount": 0, "receipt_number": None, "rendering": None, "shipping_cost": None,
        "shipping_details": None, "starting_balance": customer["balance"], "statement_descriptor": None,
        "status": "draft",
        "status_transitions": {"finalized_at": None, "marked_uncollectible_at": None, "paid_at": None,
                               "voided_at": None},
        "test_clock": None, "total_discount_amounts": [], "total_pretax_credit_amounts": [],
        "total_taxes": [], "webhooks_delivered_at": None, "_items": [],
    }


def register(sb: StripeHost) -> None:
    store, events = sb.store, sb.events
    store.renderers["invoice"] = lambda invoice: render_invoice(store, invoice)

    def create(call: Call) -> dict[str, Any]:
        p = call.params(EDITABLE + ("customer", "currency", "pending_invoice_items_behavior"))
        customer_id = p.str("customer", required=True) or ""
        behavior = p.enum("pending_invoice_items_behavior", ("exclude", "include"), "exclude")
        with store.lock:
            customer = store.get(customer_id, "customer", param="customer")
            invoice = new_invoice(sb, customer, (p.str("currency") or customer["currency"] or "usd").lower())
            invoice.update(_changes(p, invoice))
            invoice["metadata"] = merge_metadata({}, p.metadata())
            if behavior == "include":  # the default is `exclude` since 2022-08-01: pending items stay pending
                for item in reversed(list(store.newest_first("invoiceitem"))):
                    if item["customer"] == customer_id and item["invoice"] is None \
                            and item["currency"] == invoice["currency"]:
                        attach(invoice, item)
                        store.touched(item)
            store.insert(invoice)
            events.emit(call, "invoice.created", invoice)
            return sb.reply(invoice, p)

    def retrieve(call: Call) -> dict[str, Any]:
        p = call.params()
        with store.lock:
            return sb.reply(store.get(call.id, "invoice"), p)

    def update(call: Call) -> dict[str, Any]:
        p = call.params(EDITABLE)
        with store.lock:
            invoice = store.get(call.id, "invoice")
            frozen = FROZEN_ONCE_FINALIZED & set(p.raw)
            if invoice["status"] != "draft" and frozen:
                raise not_editable(f"You can only update {', '.join(sorted(frozen))} on draft invoices; invoice "
                                   f"{invoice['id']} is {invoice['status']}.", param=sorted(frozen)[0])
            changes = _changes(p, invoice) if invoice["status"] == "draft" else {
                name: value for name, value in _changes(p, invoice).items() if name not in FROZEN_ONCE_FINALIZED}
            before = store.render(invoice)
            invoice.update(changes)
            invoice["metadata"] = merge_metadata(invoice["metadata"], p.metadata())
            invoice_changed(sb, call, invoice, before)
            return sb.reply(invoice, p)

    def delete(call: Call) -> dict[str, Any]:
        call.params()
        with store.lock:
            invoice = store.get(call.id, "invoice")
            require_draft(invoice, "delete")
            for item_id in list(invoice["_items"]):  # Stripe returns a deleted draft's items to pending
                item = store.get(item_id, "invoiceitem")
                detach(store, item)
                store.touched(item)
            stub = store.delete(invoice)
            events.emit(call, "invoice.deleted", invoice)
            return stub

    def list_(call: Call) -> dict[str, Any]:
        p = call.params(LIST_PARAMS + ("customer", "status", "collection_method", "due_date"))
        customer, method, in_range = p.str("customer"), p.str("collection_method"), range_filter(p)
        status = p.enum("status", ("draft", "open", "paid", "uncollectible", "void"))
        due = range_filter(p, "due_date") if "due_date" in p else (lambda invoice: True)
        with store.lock:
            found = (i for i in store.newest_first("invoice") if in_range(i) and due(i)
                     and (customer is None or i["customer"] == customer) and (status is None or i["status"] == status)
                     and (method is None or i["collection_method"] == method))
            return sb.list_reply(p, found, "/v1/invoices")

    def search_(call: Call) -> dict[str, Any]:
        p = call.params(("query", "limit", "page"))
        return search(p, store.searchable("invoice"), SEARCH_FIELDS, "/v1/invoices/search")

    def lines(call: Call) -> dict[str, Any]:
        p = call.params(("limit", "starting_after", "ending_before"))
        with store.lock:
            invoice = store.get(call.id, "invoice")
            return paginate(p, invoice_lines(store, invoice), f"/v1/invoices/{invoice['id']}/lines", dict)

    def add_lines(call: Call) -> dict[str, Any]:
        p = call.params(("lines", "invoice_metadata"))
        entries = p.list("lines") or []
        if not entries:
            raise validation("Missing required param: lines.", "parameter_missing", "lines")
        with store.lock:
            invoice = store.get(call.id, "invoice")
            require_draft(invoice, "add lines to")
            before = store.render(invoice)
            for index, entry in enumerate(entries):
                line_params = Params(entry if isinstance(entry, dict) else {}, LINE_FIELDS)
                if "invoice_item" in line_params:
                    item = store.get(line_params.str("invoice_item") or "", "invoiceitem",
                                     param=f"lines[{index}][invoice_item]")
                    if item["invoice"] is not None or item["customer"] != invoice["customer"]:
                        raise invalid("Only pending invoice items of the invoice's customer can be added.",
                                      param=f"lines[{index}][invoice_item]")
                    attach(invoice, item)
                    store.touched(item)
                else:
                    item = new_item(sb, line_params, invoice["customer"], invoice)
                    store.insert(item)
                    attach(invoice, item)
                    events.emit(call, "invoiceitem.created", item)
            invoice["metadata"] = merge_metadata(invoice["metadata"], p.metadata("invoice_metadata"))
            invoice_changed(sb, call, invoice, before)
            return sb.reply(invoice, p)

    def remove_lines(call: Call) -> dict[str, Any]:
        p = call.params(("lines", "invoice_metadata"))
        with store.lock:
            invoice = store.get(call.id, "invoice")
            require_draft(invoice, "remove lines from")
            before = store.render(invoice)
            by_line = {store.get(i, "invoiceitem")["_line"]: store.get(i, "invoiceitem") for i in invoice["_items"]}
            for index, entry in enumerate(p.list("lines") or []):
                entry = entry if isinstance(entry, dict) else {}
                item = by_line.get(entry.get("id", ""))
                if item is None:
                    raise invalid(f"No such line item: '{entry.get('id')}'", code="resource_missing",
                                  param=f"lines[{index}][id]")
                detach(store, item)
                if entry.get("behavior") == "delete":
                    store.delete(item)
                    events.emit(call, "invoiceitem.deleted", item)
                else:
                    store.touched(item)
            invoice["metadata"] = merge_metadata(invoice["metadata"], p.metadata("invoice_metadata"))
            invoice_changed(sb, call, invoice, before)
            return sb.reply(invoice, p)

    sb.api("POST", "/v1/invoices", create)
    sb.api("GET", "/v1/invoices", list_)
    sb.api("GET", "/v1/invoices/search", search_)
    sb.api("GET", "/v1/invoices/{id}", retrieve)
    sb.api("POST", "/v1/invoices/{id}", update)
    sb.api("DELETE", "/v1/invoices/{id}", delete)
    sb.api("GET", "/v1/invoices/{id}/lines", lines)
    sb.api("POST", "/v1/invoices/{id}/add_lines", add_lines)
    sb.api("POST", "/v1/invoices/{id}/remove_lines", remove_lines)
