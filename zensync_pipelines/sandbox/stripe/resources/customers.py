"""/v1/customers: create, retrieve, update, delete, list and search."""

from __future__ import annotations

import string
from typing import Any

from ..api import Call
from ..forms import Params, merge_metadata
from ..host import StripeHost
from ..querying import LIST_PARAMS, range_filter, search


ADDRESS = ("city", "country", "line1", "line2", "postal_code", "state")
WRITABLE = ("address", "balance", "description", "email", "invoice_prefix", "metadata", "name", "phone",
            "preferred_locales", "shipping", "tax_exempt", "invoice_settings")
SEARCH_FIELDS = {"created", "email", "name", "phone"}
PREFIX_ALPHABET = string.ascii_uppercase + string.digits


def read_changes(p: Params) -> dict[str, Any]:
    """Validate every writable field before touching state, so a bad request changes nothing."""
    changes: dict[str, Any] = {}
    for name in ("description", "name", "phone"):
        if name in p:
            changes[name] = p.str(name)
    if "email" in p:
        changes["email"] = p.email()
    if "balance" in p:
        changes["balance"] = p.int("balance")
    if "tax_exempt" in p:
        changes["tax_exempt"] = p.enum("tax_exempt", ("none", "exempt", "reverse"))
    if "invoice_prefix" in p:
        changes["invoice_prefix"] = p.str("invoice_prefix")
    if "preferred_locales" in p:
        changes["preferred_locales"] = p.list("preferred_locales")
    if "address" in p:
        changes["address"] = _address(p.dict("address", ADDRESS))
    if "shipping" in p:
        shipping = p.dict("shipping", ("address", "name", "phone"))
        changes["shipping"] = {**shipping, "address": _address(shipping.get("address"))} if shipping else None
    if "invoice_settings" in p:
        changes["invoice_settings"] = p.dict("invoice_settings", ("footer",))
    return changes


def _address(value: Any) -> Any:
    return {key: (value or {}).get(key) for key in ADDRESS} if value else None


def new_customer(sb: StripeHost) -> dict[str, Any]:
    store = sb.store
    return {
        "id": store.new_id("cus_"), "object": "customer", "address": None, "balance": 0, "created": store.now(),
        "currency": None, "default_source": None, "delinquent": False, "description": None, "discount": None,
        "email": None, "invoice_prefix": store.new_id("", 8, PREFIX_ALPHABET),
        "invoice_settings": {"custom_fields": None, "default_payment_method": None, "footer": None,
                             "rendering_options": None},
        "livemode": False, "metadata": {}, "name": None, "next_invoice_sequence": 1, "phone": None,
        "preferred_locales": [], "shipping": None, "tax_exempt": "none", "test_clock": None,
    }


def apply(customer: dict[str, Any], changes: dict[str, Any], metadata: Any) -> None:
    for name, value in changes.items():
        if name == "invoice_settings":
            customer[name] = {**customer[name], **(value or {})}
        else:
            customer[name] = value
    customer["metadata"] = merge_metadata(customer["metadata"], metadata)


def register(sb: StripeHost) -> None:
    store, events = sb.store, sb.events

    def create(call: Call) -> dict[str, Any]:
        p = call.params(WRITABLE)
        changes, metadata = read_changes(p), p.metadata()
        with store.lock:
            customer = new_customer(sb)
            apply(customer, changes, metadata)
            store.insert(customer)
            events.emit(call, "customer.created", customer)
            return sb.reply(customer, p)

    def retrieve(call: Call) -> dict[str, Any]:
        p = call.params()
        with store.lock:
            if store.was_deleted(call.id, "customer"):
                return {"id": call.id, "object": "customer", "deleted": True}
            return sb.reply(store.get(call.id, "customer"), p)

    def update(call: Call) -> dict[str, Any]:
        p = call.params(WRITABLE)
        changes, metadata = read_changes(p), p.metadata()
        with store.lock:
            customer = store.get(call.id, "customer")
            before = store.render(customer)
            apply(customer, changes, metadata)
            if store.render(customer) != before:
                store.touched(customer)
                events.emit(call, "customer.updated", customer, before)
            return sb.reply(customer, p)

    def delete(call: Call) -> dict[str, Any]:
        call.params()
        with store.lock:
            customer = store.get(call.id, "customer")
            stub = store.delete(customer)
            events.emit(call, "customer.deleted", customer)
            return stub

    def list_(call: Call) -> dict[str, Any]:
        p = call.params(LIST_PARAMS + ("email",))
        email, in_range = p.str("email"), range_filter(p)
        with store.lock:
            found = (c for c in store.newest_first("customer")
                     if in_range(c) and (email is None or c["email"] == email))
            return sb.list_reply(p, found, "/v1/customers")

    def search_(call: Call) -> dict[str, Any]:
        p = call.params(("query", "limit", "page"))
        return search(p, store.searchable("customer"), SEARCH_FIELDS, "/v1/customers/search")

    sb.api("POST", "/v1/customers", create)
    sb.api("GET", "/v1/customers", list_)
    sb.api("GET", "/v1/customers/search", search_)
    sb.api("GET", "/v1/customers/{id}", retrieve)
    sb.api("POST", "/v1/customers/{id}", update)
    sb.api("DELETE", "/v1/customers/{id}", delete)
