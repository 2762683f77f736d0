"""/v1/products and /v1/prices: enough of the catalog for invoice items that reference a price."""

from __future__ import annotations

import re
from typing import Any, Callable

from ..api import Call
from ..errors import invalid, validation
from ..forms import Params, merge_metadata
from ..host import StripeHost
from ..querying import LIST_PARAMS, range_filter


PRODUCT_FIELDS = ("name", "description", "active", "metadata", "url", "unit_label", "statement_descriptor",
                  "tax_code", "shippable")
PRICE_FIELDS = ("currency", "product", "product_data", "unit_amount", "unit_amount_decimal", "recurring", "nickname",
                "lookup_key", "metadata", "active", "tax_behavior")
PRICE_UPDATABLE = ("nickname", "lookup_key", "metadata", "active", "tax_behavior")


def currency(p: Params, required: bool = True) -> str | None:
    value = p.str("currency", required=required)
    if value is not None and not re.fullmatch(r"[a-zA-Z]{3}", value):
        raise validation(f"Invalid currency: {value}.", "parameter_invalid_string", "currency")
    return value.lower() if value else None


PRODUCT_UPDATABLE = PRODUCT_FIELDS + ("default_price",)


def _product_changes(p: Params) -> dict[str, Any]:
    changes: dict[str, Any] = {name: p.str(name) for name in PRODUCT_UPDATABLE
                               if name in p and name not in ("active", "shippable", "metadata")}
    if "default_price" in changes:
        changes["default_price"] = changes["default_price"] or None  # "" unsets it
    for flag in ("active", "shippable"):
        if flag in p:
            changes[flag] = p.bool(flag)
    return changes


def new_product(sb: StripeHost, name: str, product_id: str | None = None) -> dict[str, Any]:
    now = sb.store.now()
    return {"id": product_id or sb.store.new_id("prod_"), "object": "product", "active": True, "created": now,
            "default_price": None, "description": None, "images": [], "livemode": False, "marketing_features": [],
            "metadata": {}, "name": name, "package_dimensions": None, "shippable": None,
            "statement_descriptor": None, "tax_code": None, "type": "service", "unit_label": None, "updated": now,
            "url": None}


def new_price(sb: StripeHost, p: Params, product_id: str) -> dict[str, Any]:
    """A price from create params (also used for `price_data` on invoice items, which makes an inactive one)."""
    amount = p.int("unit_amount", low=0)
    decimal = p.str("unit_amount_decimal")
    if amount is None and decimal is None:
        raise validation("Missing required param: unit_amount.", "parameter_missing", "unit_amount")
    recurring = p.dict("recurring", ("interval", "interval_count", "usage_type"))
    if recurring is not None and recurring.get("interval") not in ("day", "week", "month", "year"):
        raise validation("Invalid recurring[interval]: must be one of day, week, month, or year",
                         "parameter_invalid_string", "recurring[interval]")
    return {
        "id": sb.store.new_id("price_", 24), "object": "price", "active": p.bool("active", True),
        "billing_scheme": "per_unit", "created": sb.store.now(), "currency": currency(p),
        "custom_unit_amount": None, "livemode": False, "lookup_key": p.str("lookup_key"), "metadata": {},
        "nickname": p.str("nickname"), "product": product_id,
        "recurring": None if recurring is None else {
            "interval": recurring["interval"], "interval_count": int(recurring.get("interval_count", 1)),
            "meter": None, "usage_type": recurring.get("usage_type", "licensed"), "trial_period_days": None},
        "tax_behavior": p.enum("tax_behavior", ("exclusive", "inclusive", "unspecified"), "unspecified"),
        "tiers_mode": None, "transform_quantity": None, "type": "recurring" if recurring else "one_time",
        "unit_amount": amount if amount is not None else int(float(decimal or 0)),
        "unit_amount_decimal": decimal if decimal is not None else str(amount),
    }


def register(sb: StripeHost) -> None:
    store, events = sb.store, sb.events

    def check_product(product: dict[str, Any], changes: dict[str, Any]) -> None:
        """As Stripe: a default price must be an active price of this very product."""
        price_id = changes.get("default_price")
        if price_id is None:
            return
        price = store.get(price_id, "price", param="default_price")
        if price["product"] != product["id"] or not price["active"]:
            raise invalid(f"The price `{price_id}` must be an active price of product `{product['id']}` to be its "
                          "default price.", param="default_price")

    def check_price(price: dict[str, Any], changes: dict[str, Any]) -> None:
        """As Stripe: the default price of a product cannot be archived; move the default first."""
        if changes.get("active") is False and price["active"]:
            product = store.find(price["product"])
            if product is not None and product.get("default_price") == price["id"]:
                raise invalid("This price cannot be archived because it is the default price of its product.",
                              param="active")

    def updater(kind: str, allow: tuple[str, ...], read: Callable[[Params], dict[str, Any]],
                check: Callable[[dict[str, Any], dict[str, Any]], None]):
        def update(call: Call) -> dict[str, Any]:
            p = call.params(allow)
            changes, metadata = read(p), p.metadata()
            with store.lock:
                obj = store.get(call.id, kind)
                check(obj, changes)
                before = store.render(obj)
                obj.update(changes)
                obj["metadata"] = merge_metadata(obj["metadata"], metadata)
                if kind == "product":
                    obj["updated"] = store.now()
                if store.render(obj) != before:
                    store.touched(obj)
                    events.emit(call, f"{kind}.updated", obj, before)
                return sb.reply(obj, p)
        return update

    def retriever(kind: str):
        def retrieve(call: Call) -> dict[str, Any]:
            p = call.params()
            with store.lock:
                return sb.reply(store.get(call.id, kind), p)
        return retrieve

    def create_product(call: Call) -> dict[str, Any]:
        p = call.params(PRODUCT_FIELDS + ("id",))
        name, changes, metadata = p.str("name", required=True), _product_changes(p), p.metadata()
        with store.lock:
            if p.str("id") and store.find(p.str("id") or "") is not None:
                raise invalid("Product already exists.", code="resource_already_exists", param="id")
            product = new_product(sb, name or "", p.str("id"))
            product.update(changes)
            product["metadata"] = merge_metadata({}, metadata)
            store.insert(product)
            events.emit(call, "product.created", product)
            return sb.reply(product, p)

    def list_products(call: Call) -> dict[str, Any]:
        p = call.params(LIST_PARAMS + ("active",))
        active, in_range = p.bool("active"), range_filter(p)
        with store.lock:
            found = (o for o in store.newest_first("product")
                     if in_range(o) and (active is None or o["active"] == active))
            return sb.list_reply(p, found, "/v1/products")

    def create_price(call: Call) -> dict[str, Any]:
        p = call.params(PRICE_FIELDS)
        product_data = p.dict("product_data", ("name", "metadata", "active"))
        if ("product" in p) == (product_data is not None):
            raise validation("You must specify exactly one of product or product_data.", "parameter_missing",
                             "product")
        with store.lock:
            if product_data is not None:
                product = new_product(sb, str(product_data.get("name") or ""))
                store.insert(product)
                events.emit(call, "product.created", product)
            else:
                product = store.get(p.str("product") or "", "product", param="product")
            price = new_price(sb, p, product["id"])
            price["metadata"] = merge_metadata({}, p.metadata())
            store.insert(price)
            events.emit(call, "price.created", price)
            return sb.reply(price, p)

    def list_prices(call: Call) -> dict[str, Any]:
        p = call.params(LIST_PARAMS + ("active", "product", "currency", "type"))
        active, product, kind, in_range = p.bool("active"), p.str("product"), p.str("type"), range_filter(p)
        with store.lock:
            found = (o for o in store.newest_first("price") if in_range(o)
                     and (active is None or o["active"] == active) and (product is None or o["product"] == product)
                     and (kind is None or o["type"] == kind))
            return sb.list_reply(p, found, "/v1/prices")

    def price_changes(p: Params) -> dict[str, Any]:
        changes: dict[str, Any] = {name: p.str(name) for name in ("nickname", "lookup_key") if name in p}
        if "active" in p:
            changes["active"] = p.bool("active")
        if "tax_behavior" in p:
            changes["tax_behavior"] = p.enum("tax_behavior", ("exclusive", "inclusive", "unspecified"))
        return changes

    sb.api("POST", "/v1/products", create_product)
    sb.api("GET", "/v1/products", list_products)
    sb.api("GET", "/v1/products/{id}", retriever("product"))
    sb.api("POST", "/v1/products/{id}", updater("product", PRODUCT_UPDATABLE, _product_changes, check_product))
    sb.api("POST", "/v1/prices", create_price)
    sb.api("GET", "/v1/prices", list_prices)
    sb.api("GET", "/v1/prices/{id}", retriever("price"))
    sb.api("POST", "/v1/prices/{id}", updater("price", PRICE_UPDATABLE, price_changes, check_price))
