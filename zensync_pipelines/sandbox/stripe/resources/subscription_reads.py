"""Subscriptions as Stripe shapes and reads them: the object, its rendering with its items, the `trial_end`
parameter, and the read routes (retrieve, list, search)."""

from __future__ import annotations

from typing import Any, Optional

from ..api import Call
from ..errors import validation
from ..forms import Params
from ..host import StripeHost
from ..querying import LIST_PARAMS, range_filter, search
from ..store import Obj, Store
from .invoices import DAY
from .subscription_items import render_item

STATUSES = ("incomplete", "incomplete_expired", "trialing", "active", "past_due", "canceled", "unpaid", "paused")
SEARCH_FIELDS = {"created", "status"}
MAX_TRIAL = 730 * DAY  # "The trial period must be 730 days (2 years) or less." (Stripe's trials guide)


def render_subscription(sb: StripeHost, sub: Obj) -> Obj:
    items = [render_item(sb, sub, item) for item in sub["_items"]]
    return {**sub, "items": {"object": "list", "data": items, "has_more": False, "total_count": len(items),
                             "url": f"/v1/subscription_items?subscription={sub['id']}"}}


def trial_end_param(p: Params, now: int) -> Optional[int]:
    """`trial_end`: a Unix timestamp in the future, at most two years away, or `now` (end a trial at once)."""
    raw = p.str("trial_end")
    if raw is None:
        return None
    if raw == "now":
        return now
    when = p.int("trial_end")
    if when is None or when <= now:
        raise validation("Invalid timestamp: must be an integer Unix timestamp in the future.",
                         "parameter_invalid_integer", "trial_end")
    if when - now > MAX_TRIAL:
        raise validation("Invalid timestamp: can be no more than two years in the future.",
                         "parameter_invalid_integer", "trial_end")
    return when


def new_subscription(store: Store, customer: Obj, currency: str, now: int, end: int) -> Obj:
    """A new subscription as Stripe shapes it, before its items, collection and trial are set."""
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


def register(sb: StripeHost) -> None:
    store = sb.store
    store.renderers["subscription"] = lambda sub: render_subscription(sb, sub)

    def retrieve(call: Call) -> dict[str, Any]:
        p = call.params()
        with store.lock:
            return sb.reply(store.get(call.id, "subscription"), p)

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

    sb.api("GET", "/v1/subscriptions", list_)
    sb.api("GET", "/v1/subscriptions/search", search_)
    sb.api("GET", "/v1/subscriptions/{id}", retrieve)
