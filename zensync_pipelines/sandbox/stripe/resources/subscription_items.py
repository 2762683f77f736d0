"""/v1/subscription_items (https://stripe.com/docs/api/subscription_items): list, create, retrieve, update and
delete the items of a subscription, and the item rules `POST /v1/subscriptions/{id}` shares.

An item lives inside its subscription (`_items`: id, price id, quantity, metadata, created) and is rendered with
its price (and the legacy `plan`) embedded. As Stripe: one currency and one billing interval per subscription,
recurring active prices only, a price once, at least one item (deleting the last one is refused: cancel the
subscription instead), nothing changes on a canceled subscription. Every change is a
`customer.subscription.updated` and prorates as `proration_behavior` says (subscription_billing.py); a change of
billing interval starts a new period at once and invoices it.
"""

from __future__ import annotations

from typing import Any, Optional

from ..api import Call
from ..errors import invalid, missing, validation
from ..forms import Params, merge_metadata
from ..host import StripeHost
from ..querying import LIST_PARAMS, expand, paginate
from ..store import Obj
from .subscription_billing import PRORATIONS, interval_of, invoice_period, period_end, prorate

ITEM_FIELDS = ("id", "price", "quantity", "metadata", "deleted")
ITEM_CHANGES = ("price", "quantity", "metadata", "proration_behavior", "payment_behavior")
ENDED = ("canceled", "incomplete_expired")


def render_item(sb: StripeHost, sub: Obj, item: Obj) -> Obj:
    price = sb.store.render(sb.store.get(item["price"], "price"))
    recurring = price["recurring"] or {}
    return {
        "id": item["id"], "object": "subscription_item", "billing_thresholds": None, "created": item["created"],
        "current_period_end": sub["_period_end"], "current_period_start": sub["_period_start"], "discounts": [],
        "metadata": dict(item["metadata"]), "price": price, "quantity": item["quantity"],
        "subscription": sub["id"], "tax_rates": [],
        # The legacy Plan view of the price that Stripe still embeds.
        "plan": {"id": price["id"], "object": "plan", "active": price["active"], "amount": price["unit_amount"],
                 "amount_decimal": price["unit_amount_decimal"], "billing_scheme": "per_unit",
                 "created": price["created"], "currency": price["currency"],
                 "interval": recurring.get("interval"), "interval_count": recurring.get("interval_count", 1),
                 "livemode": False, "metadata": dict(price["metadata"]), "meter": None,
                 "nickname": price["nickname"], "product": price["product"], "tiers_mode": None,
                 "transform_usage": None, "trial_period_days": None,
                 "usage_type": recurring.get("usage_type", "licensed")},
    }


def recurring_price(sb: StripeHost, price_id: str, param: str) -> Obj:
    price = sb.store.get(price_id, "price", param=param)
    if price["type"] != "recurring":
        raise invalid("The price specified is set to `type=one_time` but this field only accepts prices with "
                      "`type=recurring`.", param=param, saved=False)
    if not price["active"]:
        raise invalid(f"The price `{price_id}` is not active.", param=param, saved=False)
    return price


def check_prices(sb: StripeHost, items: list[Obj], sub: Optional[Obj] = None) -> None:
    """As Stripe: one currency and one billing interval per subscription, and a price only once."""
    prices = [sb.store.get(item["price"], "price") for item in items]
    if len({p["currency"] for p in prices}) > 1:
        raise invalid("Currency of all prices must match.", param="items", saved=False)
    if sub is not None and prices[0]["currency"] != sub["currency"]:
        raise invalid(f"Currency of all prices must match the subscription's currency ({sub['currency']}).",
                      param="items", saved=False)
    if len({(p["recurring"]["interval"], p["recurring"]["interval_count"]) for p in prices}) > 1:
        raise invalid("The price specified has a billing interval that does not match the other prices on the "
                      "subscription. All prices on a subscription must have the same recurring interval.",
                      param="items", saved=False)
    ids = [p["id"] for p in prices]
    if len(set(ids)) != len(ids):
        raise invalid("Cannot add multiple subscription items with the same price.", param="items", saved=False)


def item_params(raw: Any, index: int) -> Params:
    if not isinstance(raw, dict):
        raise validation(f"Invalid object: items[{index}]", "parameter_invalid_object", f"items[{index}]")
    return Params(raw, ITEM_FIELDS)


def new_item(sb: StripeHost, entry: Params, param: str = "price") -> Obj:
    price = recurring_price(sb, entry.str("price", required=True) or "", param)
    quantity = entry.int("quantity", low=0, default=1)  # an empty value is no value, as on every int param
    return {"id": sb.store.new_id("si_"), "price": price["id"], "quantity": quantity,
            "metadata": merge_metadata({}, entry.metadata()), "created": sb.store.now()}


def edit_item(sb: StripeHost, item: Obj, entry: Params, param: str = "price") -> None:
    if "price" in entry:
        item["price"] = recurring_price(sb, entry.str("price", required=True) or "", param)["id"]
    item["quantity"] = entry.int("quantity", low=0, default=item["quantity"])
    item["metadata"] = merge_metadata(item["metadata"], entry.metadata())


def refuse_if_ended(sub: Obj) -> None:
    if sub["status"] in ENDED:
        raise invalid(f"A canceled subscription can only update its cancellation_details and metadata "
                      f"({sub['id']} is {sub['status']}).", saved=False)


def check_items(sb: StripeHost, items: list[Obj], sub: Obj) -> None:
    if not items:
        raise invalid("A subscription must have at least one active plan. To cancel a subscription, please use "
                      "the cancel API endpoint on /v1/subscriptions.", param="items", saved=False)
    check_prices(sb, items, sub)


def change_items(sb: StripeHost, call: Optional[Call], sub: Obj, items: list[Obj], behavior: str) -> None:
    """Replace the subscription's items with `items` (edited copies): Stripe's rules, then its prorations; a new
    billing interval ends the period now (its unused time credited) and invoices a new one at once."""
    check_items(sb, items, sub)
    before, was = sub["_items"], interval_of(sb, sub)
    sub["_items"] = items
    if interval_of(sb, sub) == was:
        prorate(sb, call, sub, before, items, behavior)
        return
    prorate(sb, call, sub, before, items, behavior, credit_only=True)
    now = sb.store.now()
    interval, count = interval_of(sb, sub)
    sub.update(_period_start=now, _period_end=period_end(now, interval, count), billing_cycle_anchor=now)
    if sub["cancel_at_period_end"]:
        sub["cancel_at"] = sub["_period_end"]
    invoice_period(sb, call, sub, "subscription_update", trial=sub["status"] == "trialing")


def find_item(sb: StripeHost, item_id: str, param: str = "id") -> tuple[Obj, Obj]:
    for sub in sb.store.newest_first("subscription"):
        for item in sub["_items"]:
            if item["id"] == item_id:
                return sub, item
    raise missing(item_id, param, "subscription item")


def register(sb: StripeHost, changed: Any) -> None:
    """`changed(call, sub, before)`: the subscription module's `customer.subscription.updated`."""
    store = sb.store

    def write(call: Call, sub: Obj, items: list[Obj], p: Params) -> None:
        refuse_if_ended(sub)
        before = store.render(sub)
        change_items(sb, call, sub, items, p.enum("proration_behavior", PRORATIONS) or "create_prorations")
        changed(call, sub, before)

    def list_(call: Call) -> dict[str, Any]:
        p = call.params(LIST_PARAMS + ("subscription",))
        sub_id = p.str("subscription")
        if not sub_id:
            raise validation("Missing required param: subscription.", "parameter_missing", "subscription")
        with store.lock:
            sub = store.get(sub_id, "subscription", param="subscription")
            page = paginate(p, list(reversed(sub["_items"])), f"/v1/subscription_items?subscription={sub_id}",
                            lambda item: render_item(sb, sub, item))
            return expand(store, page, p.expand)

    def create(call: Call) -> dict[str, Any]:
        p = call.params(ITEM_CHANGES + ("subscription",))
        sub_id = p.str("subscription", required=True) or ""
        p.enum("payment_behavior", ("allow_incomplete", "default_incomplete", "error_if_incomplete",
                                    "pending_if_incomplete"))
        with store.lock:
            sub = store.get(sub_id, "subscription", param="subscription")
            item = new_item(sb, p)
            write(call, sub, [dict(i) for i in sub["_items"]] + [item], p)
            return render_item(sb, sub, item)

    def retrieve(call: Call) -> dict[str, Any]:
        call.params()
        with store.lock:
            sub, item = find_item(sb, call.id)
            return render_item(sb, sub, item)

    def update(call: Call) -> dict[str, Any]:
        p = call.params(ITEM_CHANGES)
        with store.lock:
            sub, item = find_item(sb, call.id)
            items = [dict(i) for i in sub["_items"]]
            edited = next(i for i in items if i["id"] == item["id"])
            edit_item(sb, edited, p)
            write(call, sub, items, p)
            return render_item(sb, sub, edited)

    def delete(call: Call) -> dict[str, Any]:
        p = call.params(("proration_behavior", "clear_usage", "proration_date"))
        p.bool("clear_usage")
        with store.lock:
            sub, item = find_item(sb, call.id)
            write(call, sub, [dict(i) for i in sub["_items"] if i["id"] != item["id"]], p)
            return {"id": item["id"], "object": "subscription_item", "deleted": True}

    sb.api("GET", "/v1/subscription_items", list_)
    sb.api("POST", "/v1/subscription_items", create, lock=lambda call: [str(call.raw.get("subscription"))])
    sb.api("GET", "/v1/subscription_items/{id}", retrieve)
    sb.api("POST", "/v1/subscription_items/{id}", update)
    sb.api("DELETE", "/v1/subscription_items/{id}", delete)
