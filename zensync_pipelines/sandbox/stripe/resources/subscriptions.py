"""/v1/subscriptions: create, retrieve, update (items, quantity, cancel at period end), cancel now, list and
search, with each subscription's invoices as Stripe makes them.

A subscription keeps its items (`_items`: id, price id, quantity, metadata, created) and renders each item with its
price embedded, as Stripe does. Its first invoice is made at once: `send_invoice` finalizes it to `open` (due
`days_until_due` days later) and the subscription is `active`; `charge_automatically` without a payment method
leaves the invoice open and the subscription `incomplete`. Prorations are not computed (a plan change bills
nothing until the next period); a change of interval starts a new period and invoices it, as Stripe does.
What Stripe does on its own clock (a period ends, an invoice goes past due) is `POST /_sandbox/subscriptions`.
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Any, Optional

from ...core import Request, Response
from ..api import Call
from ..errors import StripeError, invalid, validation
from ..forms import Params, merge_metadata
from ..host import StripeHost
from ..querying import LIST_PARAMS, range_filter, search
from ..store import Obj
from .invoices import DAY, new_invoice

STATUSES = ("incomplete", "incomplete_expired", "trialing", "active", "past_due", "canceled", "unpaid", "paused")
CREATE_FIELDS = ("customer", "items", "collection_method", "days_until_due", "metadata", "cancel_at_period_end",
                 "description", "proration_behavior", "payment_behavior", "default_payment_method")
UPDATE_FIELDS = ("items", "collection_method", "days_until_due", "metadata", "cancel_at_period_end",
                 "description", "proration_behavior", "payment_behavior", "cancellation_details")
ITEM_FIELDS = ("id", "price", "quantity", "metadata", "deleted")
PRORATIONS = ("create_prorations", "none", "always_invoice")
SEARCH_FIELDS = {"created", "status"}
# Once canceled, Stripe lets only these change.
AFTER_CANCEL = {"metadata", "cancellation_details", "expand"}


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


def render_subscription(sb: StripeHost, sub: Obj) -> Obj:
    items = [render_item(sb, sub, item) for item in sub["_items"]]
    return {**sub, "items": {"object": "list", "data": items, "has_more": False, "total_count": len(items),
                             "url": f"/v1/subscription_items?subscription={sub['id']}"}}


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


def register(sb: StripeHost) -> None:
    store, events = sb.store, sb.events
    store.renderers["subscription"] = lambda sub: render_subscription(sb, sub)

    def recurring_price(price_id: str, param: str) -> Obj:
        price = store.get(price_id, "price", param=param)
        if price["type"] != "recurring":
            raise invalid("The price specified is set to `type=one_time` but this field only accepts prices with "
                          "`type=recurring`.", param=param, saved=False)
        if not price["active"]:
            raise invalid(f"The price `{price_id}` is not active.", param=param, saved=False)
        return price

    def check_prices(items: list[Obj]) -> None:
        """As Stripe: one currency and one billing interval per subscription, and a price only once."""
        prices = [store.get(item["price"], "price") for item in items]
        if len({p["currency"] for p in prices}) > 1:
            raise invalid("Currency of all prices must match.", param="items", saved=False)
        if len({(p["recurring"]["interval"], p["recurring"]["interval_count"]) for p in prices}) > 1:
            raise invalid("The price specified has a billing interval that does not match the other prices on the "
                          "subscription. All prices on a subscription must have the same recurring interval.",
                          param="items", saved=False)
        ids = [p["id"] for p in prices]
        if len(set(ids)) != len(ids):
            raise invalid("Cannot add multiple subscription items with the same price.", param="items",
                          saved=False)

    def quantity(entry: Params, index: int, default: Optional[int]) -> Optional[int]:
        return entry.int("quantity", default=default, low=0) if "quantity" in entry else default

    def new_item(entry: Params, index: int) -> Obj:
        price = recurring_price(entry.str("price", required=True) or "", f"items[{index}][price]")
        return {"id": store.new_id("si_"), "price": price["id"], "quantity": quantity(entry, index, 1),
                "metadata": merge_metadata({}, entry.metadata()), "created": store.now()}

    def item_params(raw: Any, index: int) -> Params:
        if not isinstance(raw, dict):
            raise validation(f"Invalid object: items[{index}]", "parameter_invalid_object", f"items[{index}]")
        return Params(raw, ITEM_FIELDS)

    def collection(p: Params, sub: Optional[Obj]) -> dict[str, Any]:
        method = p.enum("collection_method", ("charge_automatically", "send_invoice")) or \
            (sub["collection_method"] if sub else "charge_automatically")
        days = p.int("days_until_due", low=0, high=730) if "days_until_due" in p else \
            (sub["days_until_due"] if sub and method == "send_invoice" else None)
        if method == "send_invoice" and days is None:
            raise validation("Missing required param: days_until_due.", "parameter_missing", "days_until_due")
        if method == "charge_automatically" and "days_until_due" in p:
            raise validation("You can only set `days_until_due` if `collection_method` is `send_invoice`.",
                             "parameter_invalid_integer", "days_until_due")
        return {"collection_method": method, "days_until_due": days}

    def invoice_period(call: Optional[Call], sub: Obj, reason: str) -> Obj:
        """The invoice for the subscription's current period, one line per item, finalized at once (Stripe
        finalizes a subscription's first invoice immediately)."""
        customer = store.get(sub["customer"], "customer")
        invoice = new_invoice(sb, customer, sub["currency"])
        lines = []
        for item in sub["_items"]:
            price = store.get(item["price"], "price")
            amount = int(price["unit_amount"]) * item["quantity"]
            lines.append({
                "id": store.new_id("il_", 24), "object": "line_item", "amount": amount, "currency": sub["currency"],
                "description": f"{item['quantity']} × {price['nickname'] or price['product']}",
                "discount_amounts": [], "discountable": True, "discounts": [], "invoice": invoice["id"],
                "livemode": False, "metadata": dict(sub["metadata"]),
                "parent": {"type": "subscription_item_details", "invoice_item_details": None,
                           "subscription_item_details": {"invoice_item": None, "proration": False,
                                                         "proration_details": {"credited_items": None},
                                                         "subscription": sub["id"],
                                                         "subscription_item": item["id"]}},
                "period": {"start": sub["_period_start"], "end": sub["_period_end"]},
                "pretax_credit_amounts": [],
                "pricing": {"type": "price_details",
                            "price_details": {"price": price["id"], "product": price["product"]},
                            "unit_amount_decimal": price["unit_amount_decimal"]},
                "quantity": item["quantity"], "quantity_decimal": str(item["quantity"]), "subscription": sub["id"],
                "subtotal": amount, "taxes": []})
        invoice.update(
            billing_reason=reason, collection_method=sub["collection_method"], auto_advance=True,
            period_start=sub["_period_start"], period_end=sub["_period_end"],
            due_date=invoice["created"] + sub["days_until_due"] * DAY if sub["days_until_due"] is not None else None,
            parent={"type": "subscription_details", "quote_details": None,
                    "subscription_details": {"metadata": dict(sub["metadata"]), "subscription": sub["id"]}},
            _lines=lines)
        store.insert(invoice)
        events.emit(call, "invoice.created", invoice)
        sb.finalize_invoice(call, invoice)
        sub["latest_invoice"] = invoice["id"]
        return invoice

    def settle_status(sub: Obj, invoice: Obj) -> None:
        if sub["collection_method"] == "send_invoice" or invoice["status"] == "paid":
            sub["status"] = "active"
        else:
            sub["status"] = "incomplete"  # a card is needed to pay the first invoice: allow_incomplete's outcome

    def create(call: Call) -> dict[str, Any]:
        p = call.params(CREATE_FIELDS)
        customer_id = p.str("customer", required=True) or ""
        entries = p.list("items") or []
        if not entries:
            raise validation("Missing required param: items.", "parameter_missing", "items")
        p.enum("proration_behavior", PRORATIONS)
        p.enum("payment_behavior", ("allow_incomplete", "default_incomplete", "error_if_incomplete",
                                    "pending_if_incomplete"))
        money = collection(p, None)
        with store.lock:
            customer = store.get(customer_id, "customer", param="customer")
            items = [new_item(item_params(raw, index), index) for index, raw in enumerate(entries)]
            check_prices(items)
            first = store.get(items[0]["price"], "price")
            now = store.now()
            recurring = first["recurring"]
            sub = new_subscription(customer, first["currency"], now,
                                   period_end(now, recurring["interval"], recurring["interval_count"]))
            sub.update(money, _items=items, description=p.str("description"),
                       metadata=merge_metadata({}, p.metadata()))
            if p.bool("cancel_at_period_end"):
                sub.update(cancel_at_period_end=True, cancel_at=sub["_period_end"])
            if customer["currency"] is None:  # a customer's first subscription or invoice sets its currency
                before = store.render(customer)
                customer["currency"] = first["currency"]
                store.touched(customer)
                events.emit(call, "customer.updated", customer, before)
            store.insert(sub)
            invoice = invoice_period(call, sub, "subscription_create")
            settle_status(sub, invoice)
            store.touched(sub)
            events.emit(call, "customer.subscription.created", sub)
            return sb.reply(sub, p)

    def new_subscription(customer: Obj, currency: str, now: int, end: int) -> Obj:
        return {
            "id": store.new_id("sub_", 24), "object": "subscription", "application": None,
            "application_fee_percent": None,
            "automatic_tax": {"enabled": False, "liability": None, "disabled_reason": None},
            "billing_cycle_anchor": now, "billing_cycle_anchor_config": None,
            "billing_mode": {"type": "classic", "flexible": None}, "billing_schedules": [],
            "billing_thresholds": None, "cancel_at": None,
            "cancel_at_period_end": False, "canceled_at": None,
            "cancellation_details": {"comment": None, "feedback": None, "reason": None},
            "collection_method": "charge_automatically", "created": now, "currency": currency,
            "customer": customer["id"], "customer_account": None, "days_until_due": None,
            "default_payment_method": None, "default_source": None, "default_tax_rates": [], "description": None,
            "discounts": [], "ended_at": None,
            "invoice_settings": {"account_tax_ids": None, "custom_fields": None, "description": None, "footer": None,
                                 "issuer": {"type": "self"}},
            "latest_invoice": None, "livemode": False, "managed_payments": {"enabled": False}, "metadata": {},
            "next_pending_invoice_item_invoice": None,
            "on_behalf_of": None, "pause_collection": None,
            "payment_settings": {"payment_method_options": None, "payment_method_types": None,
                                 "save_default_payment_method": "off"},
            "pending_invoice_item_interval": None, "pending_setup_intent": None, "pending_update": None,
            "schedule": None, "start_date": now, "status": "incomplete", "test_clock": None, "transfer_data": None,
            "trial_end": None, "trial_settings": {"end_behavior": {"missing_payment_method": "create_invoice"}},
            "trial_start": None, "_period_start": now, "_period_end": end, "_items": [],
        }

    def retrieve(call: Call) -> dict[str, Any]:
        p = call.params()
        with store.lock:
            return sb.reply(store.get(call.id, "subscription"), p)

    def apply_items(sub: Obj, entries: list[Any]) -> None:
        """Stripe's item updates: `{id, price?, quantity?, deleted?}` changes an item in place (a new price moves
        it, no second item); `{price, quantity}` without an id adds one."""
        items = [dict(item) for item in sub["_items"]]
        by_id = {item["id"]: item for item in items}
        for index, raw in enumerate(entries):
            entry = item_params(raw, index)
            item_id = entry.str("id")
            if item_id is None:
                items.append(new_item(entry, index))
                continue
            item = by_id.get(item_id)
            if item is None:
                raise invalid(f"No such subscription item: '{item_id}'", code="resource_missing",
                              param=f"items[{index}][id]")
            if entry.bool("deleted", False):
                items.remove(item)
                continue
            if "price" in entry:
                item["price"] = recurring_price(entry.str("price", required=True) or "", f"items[{index}][price]")["id"]
            item["quantity"] = quantity(entry, index, item["quantity"])
            item["metadata"] = merge_metadata(item["metadata"], entry.metadata())
        if not items:
            raise invalid("A subscription must have at least one active plan. To cancel a subscription, please "
                          "use the cancel API endpoint on /v1/subscriptions.", param="items", saved=False)
        check_prices(items)
        if store.get(items[0]["price"], "price")["currency"] != sub["currency"]:
            raise invalid("Currency of all prices must match the subscription's currency "
                          f"({sub['currency']}).", param="items", saved=False)
        sub["_items"] = items

    def interval_of(sub: Obj) -> tuple[str, int]:
        recurring = store.get(sub["_items"][0]["price"], "price")["recurring"]
        return recurring["interval"], recurring["interval_count"]

    def update(call: Call) -> dict[str, Any]:
        p = call.params(UPDATE_FIELDS)
        p.enum("proration_behavior", PRORATIONS)
        with store.lock:
            sub = store.get(call.id, "subscription")
            if sub["status"] in ("canceled", "incomplete_expired") and set(p.raw) - AFTER_CANCEL:
                raise invalid(f"A canceled subscription can only update its cancellation_details and metadata "
                              f"({sub['id']} is {sub['status']}).", saved=False)
            money = collection(p, sub)
            before = store.render(sub)
            was = interval_of(sub)
            if "items" in p:
                apply_items(sub, p.list("items") or [])
            sub.update(money)
            if "description" in p:
                sub["description"] = p.str("description")
            if "cancel_at_period_end" in p:
                flag = bool(p.bool("cancel_at_period_end"))
                sub.update(cancel_at_period_end=flag, cancel_at=sub["_period_end"] if flag else None,
                           canceled_at=store.now() if flag else None)
            if "cancellation_details" in p:
                details = p.dict("cancellation_details", ("comment", "feedback")) or {}
                sub["cancellation_details"] = {**sub["cancellation_details"], **details}
            sub["metadata"] = merge_metadata(sub["metadata"], p.metadata())
            if interval_of(sub) != was:  # a new billing interval starts a new period now, invoiced at once
                now = store.now()
                interval, count = interval_of(sub)
                sub.update(_period_start=now, _period_end=period_end(now, interval, count), billing_cycle_anchor=now)
                if sub["cancel_at_period_end"]:
                    sub["cancel_at"] = sub["_period_end"]
                invoice_period(call, sub, "subscription_update")
            changed(call, sub, before)
            return sb.reply(sub, p)

    def changed(call: Optional[Call], sub: Obj, before: Obj) -> None:
        if store.render(sub) != before:
            store.touched(sub)
            events.emit(call, "customer.subscription.updated", sub, before)

    def end(call: Optional[Call], sub: Obj, reason: str) -> None:
        now = store.now()
        sub.update(status="canceled", ended_at=now, canceled_at=sub["canceled_at"] or now)
        sub["cancellation_details"] = {**sub["cancellation_details"], "reason": reason}
        store.touched(sub)
        events.emit(call, "customer.subscription.deleted", sub)

    def cancel(call: Call) -> dict[str, Any]:
        p = call.params(("invoice_now", "prorate", "cancellation_details"))
        details = p.dict("cancellation_details", ("comment", "feedback")) or {}
        p.bool("invoice_now"), p.bool("prorate")
        with store.lock:
            sub = store.get(call.id, "subscription")
            if sub["status"] == "canceled":
                # Stripe's answer to cancelling twice; the subscription itself stays retrievable.
                raise invalid(f"No such subscription: '{sub['id']}'", code="resource_missing", param="id")
            sub["cancellation_details"] = {**sub["cancellation_details"], **details}
            end(call, sub, "cancellation_requested")
            return sb.reply(sub, p)

    def list_(call: Call) -> dict[str, Any]:
        p = call.params(LIST_PARAMS + ("customer", "price", "status", "collection_method"))
        customer, price, method, in_range = p.str("customer"), p.str("price"), p.str("collection_method"), \
            range_filter(p)
        status = p.enum("status", STATUSES + ("all", "ended"))

        def wanted(sub: Obj) -> bool:
            if status is None and sub["status"] == "canceled":
                return False  # by default Stripe lists the subscriptions that are not canceled
            if status == "ended" and sub["status"] not in ("canceled", "incomplete_expired"):
                return False
            if status not in (None, "all", "ended") and sub["status"] != status:
                return False
            return in_range(sub) and (customer is None or sub["customer"] == customer) \
                and (method is None or sub["collection_method"] == method) \
                and (price is None or any(item["price"] == price for item in sub["_items"]))

        with store.lock:
            return sb.list_reply(p, (s for s in store.newest_first("subscription") if wanted(s)),
                                 "/v1/subscriptions")

    def search_(call: Call) -> dict[str, Any]:
        p = call.params(("query", "limit", "page"))
        return search(p, store.searchable("subscription"), SEARCH_FIELDS, "/v1/subscriptions/search")

    def clock(request: Request) -> Response:
        """What Stripe does on its own, with `request: null` on the events: `end_period` ends the current period
        (a subscription set to cancel at period end is canceled, any other renews and is invoiced), `past_due`
        marks it past due (its invoice was not paid by the due date), `unpaid` after the retries ran out."""
        body = request.json() or {}
        action, sub_id = body.get("action"), str(body.get("subscription") or "")
        if action not in ("end_period", "past_due", "unpaid"):
            return Response(400, {"error": f"action must be end_period, past_due or unpaid, got {action!r}"})
        try:
            with store.lock:
                sub = store.get(sub_id, "subscription")
                if sub["status"] == "canceled":
                    return Response(400, {"error": f"subscription {sub_id} is canceled"})
                before = store.render(sub)
                if action == "end_period" and sub["cancel_at_period_end"]:
                    end(None, sub, "cancellation_requested")
                    return Response(200, store.render(sub))
                if action == "end_period":
                    interval, count = interval_of(sub)
                    start = sub["_period_end"]
                    sub.update(_period_start=start, _period_end=period_end(start, interval, count))
                    invoice_period(None, sub, "subscription_cycle")
                else:
                    sub["status"] = action
                changed(None, sub, before)
                return Response(200, store.render(sub))
        except StripeError as error:
            return error.response()

    sb.api("POST", "/v1/subscriptions", create)
    sb.api("GET", "/v1/subscriptions", list_)
    sb.api("GET", "/v1/subscriptions/search", search_)
    sb.api("GET", "/v1/subscriptions/{id}", retrieve)
    sb.api("POST", "/v1/subscriptions/{id}", update)
    sb.api("DELETE", "/v1/subscriptions/{id}", cancel)
    sb.router.add("POST", "/_sandbox/subscriptions", clock)
