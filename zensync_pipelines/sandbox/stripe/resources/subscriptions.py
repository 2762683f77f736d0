"""/v1/subscriptions: create (with a trial or not), retrieve, update (items, quantity, trial end, cancel at period
end), cancel now, list and search, with each subscription's invoices as Stripe makes them.

A subscription keeps its items (`_items`, rendered by subscription_items.py, which also serves
/v1/subscription_items). Its first invoice is made at once: `send_invoice` finalizes it to `open` (due
`days_until_due` days later) and the subscription is `active`; `charge_automatically` without a payment method
leaves the invoice open and the subscription `incomplete`. With `trial_period_days` or `trial_end` it is
`trialing` and its first invoice is for 0 (https://stripe.com/docs/billing/subscriptions/trials); the trial's end
(`trial_end=now` on update, or the period's end on Stripe's clock) starts a billed period with its invoice. Item
changes prorate (subscription_billing.py). Paying the open invoice of an `incomplete`, `past_due` or `unpaid`
subscription makes it `active` again (the SDK's Subscription.status: it "moves into an active status" once paid).
What Stripe does on its own clock (a period ends, an invoice goes past due) is `POST /_sandbox/subscriptions`.
"""

from __future__ import annotations

from typing import Any, Optional

from ...core import Request, Response
from ..api import Call
from ..errors import StripeError, invalid, validation
from ..forms import Params, merge_metadata
from ..host import StripeHost
from ..store import Obj
from . import subscription_items, subscription_reads
from .invoices import DAY
from .subscription_billing import PRORATIONS, interval_of, invoice_period, period_end
from .subscription_items import ENDED, check_prices, edit_item, item_params, new_item
from .subscription_reads import new_subscription, trial_end_param

CREATE_FIELDS = ("customer", "items", "collection_method", "days_until_due", "metadata", "cancel_at_period_end",
                 "description", "proration_behavior", "payment_behavior", "default_payment_method",
                 "trial_period_days", "trial_end")
UPDATE_FIELDS = ("items", "collection_method", "days_until_due", "metadata", "cancel_at_period_end",
                 "description", "proration_behavior", "payment_behavior", "cancellation_details", "trial_end")
# Once canceled, Stripe lets only these change.
AFTER_CANCEL = {"metadata", "cancellation_details", "expand"}
# Not paid yet: paying the subscription's open invoice makes it active again.
UNSETTLED = ("incomplete", "past_due", "unpaid")


def register(sb: StripeHost) -> None:
    store, events = sb.store, sb.events
    subscription_reads.register(sb)

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

    def settle_status(sub: Obj, invoice: Obj, unpaid: str) -> None:
        """After a billed period's invoice: `send_invoice` waits for its due date, a paid invoice is settled, and
        an unpaid automatic charge is `unpaid` (`incomplete` for the first invoice, `past_due` after a trial)."""
        if sub["collection_method"] == "send_invoice" or invoice["status"] == "paid":
            sub["status"] = "active"
        else:
            sub["status"] = unpaid

    def trial_of(p: Params, now: int) -> Optional[int]:
        """When the trial asked for ends (None: no trial), from `trial_period_days` or `trial_end`."""
        if "trial_period_days" in p and "trial_end" in p:
            raise invalid("You may only specify one of these parameters: trial_end, trial_period_days.",
                          param="trial_end", saved=False)
        days = p.int("trial_period_days", low=0, high=730)
        if days:
            return now + days * DAY
        end = trial_end_param(p, now)
        return end if end is not None and end > now else None

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
            items = [new_item(sb, item_params(raw, index), f"items[{index}][price]")
                     for index, raw in enumerate(entries)]
            check_prices(sb, items)
            first = store.get(items[0]["price"], "price")
            now = store.now()
            trial_end = trial_of(p, now)
            recurring = first["recurring"]
            end = trial_end or period_end(now, recurring["interval"], recurring["interval_count"])
            sub = new_subscription(store, customer, first["currency"], now, end)
            sub.update(money, _items=items, description=p.str("description"),
                       metadata=merge_metadata({}, p.metadata()))
            if trial_end is not None:
                sub.update(status="trialing", trial_start=now, trial_end=trial_end)
            if p.bool("cancel_at_period_end"):
                sub.update(cancel_at_period_end=True, cancel_at=sub["_period_end"])
            if customer["currency"] is None:  # a customer's first subscription or invoice sets its currency
                before = store.render(customer)
                customer["currency"] = first["currency"]
                store.touched(customer)
                events.emit(call, "customer.updated", customer, before)
            # Stored after its first invoice: a 0 invoice is paid as it is finalized, which must not read as the
            # payment that settles an unpaid subscription (paid() below).
            invoice = invoice_period(sb, call, sub, "subscription_create", trial=trial_end is not None)
            if trial_end is None:
                settle_status(sub, invoice, "incomplete")
            store.insert(sub)
            events.emit(call, "customer.subscription.created", sub)
            return sb.reply(sub, p)

    def edited_items(sub: Obj, entries: list[Any]) -> list[Obj]:
        """Stripe's item updates: `{id, price?, quantity?, deleted?}` changes an item in place (a new price moves
        it, no second item); `{price, quantity}` without an id adds one."""
        items = [dict(item) for item in sub["_items"]]
        by_id = {item["id"]: item for item in items}
        for index, raw in enumerate(entries):
            entry = item_params(raw, index)
            item_id = entry.str("id")
            if item_id is None:
                items.append(new_item(sb, entry, f"items[{index}][price]"))
                continue
            item = by_id.get(item_id)
            if item is None:
                raise invalid(f"No such subscription item: '{item_id}'", code="resource_missing",
                              param=f"items[{index}][id]")
            if entry.bool("deleted", False):
                items.remove(item)
                continue
            edit_item(sb, item, entry, f"items[{index}][price]")
        return items

    def end_trial(call: Optional[Call], sub: Obj, at: int, reason: str) -> None:
        """The trial is over: a billed period starts `at`, invoiced at once (Stripe: "When the trial ends ... we
        generate an invoice ... A new billing cycle also begins")."""
        interval, count = interval_of(sb, sub)
        sub.update(trial_end=at, _period_start=at, _period_end=period_end(at, interval, count),
                   billing_cycle_anchor=at)
        if sub["cancel_at_period_end"]:
            sub["cancel_at"] = sub["_period_end"]
        sub["status"] = "active"  # billed from here; settle_status corrects it if the invoice stays unpaid
        settle_status(sub, invoice_period(sb, call, sub, reason), "past_due")

    def update(call: Call) -> dict[str, Any]:
        p = call.params(UPDATE_FIELDS)
        behavior = p.enum("proration_behavior", PRORATIONS) or "create_prorations"
        with store.lock:
            sub = store.get(call.id, "subscription")
            if sub["status"] in ENDED and set(p.raw) - AFTER_CANCEL:
                raise invalid(f"A canceled subscription can only update its cancellation_details and metadata "
                              f"({sub['id']} is {sub['status']}).", saved=False)
            money = collection(p, sub)
            trial_end = trial_end_param(p, store.now())
            if trial_end is not None and trial_end > store.now() and sub["status"] != "trialing":
                raise invalid("The sandbox moves the end of a running trial only; it does not start a trial on a "
                              f"subscription that is {sub['status']}.", param="trial_end", saved=False)
            items = None
            if "items" in p:  # checked before anything changes: a refused update changes nothing
                items = edited_items(sub, p.list("items") or [])
                subscription_items.check_items(sb, items, sub)
            before = store.render(sub)
            sub.update(money)
            if "description" in p:
                sub["description"] = p.str("description")
            sub["metadata"] = merge_metadata(sub["metadata"], p.metadata())
            if "cancellation_details" in p:
                details = p.dict("cancellation_details", ("comment", "feedback")) or {}
                sub["cancellation_details"] = {**sub["cancellation_details"], **details}
            if "cancel_at_period_end" in p:
                flag = bool(p.bool("cancel_at_period_end"))
                sub.update(cancel_at_period_end=flag, cancel_at=sub["_period_end"] if flag else None,
                           canceled_at=store.now() if flag else None)
            if items is not None:
                subscription_items.change_items(sb, call, sub, items, behavior)
            if trial_end is not None and sub["status"] == "trialing":
                if trial_end <= store.now():
                    end_trial(call, sub, store.now(), "subscription_update")
                else:  # the trial (and its period) now ends then
                    sub.update(trial_end=trial_end, _period_end=trial_end)
                    if sub["cancel_at_period_end"]:
                        sub["cancel_at"] = trial_end
            changed(call, sub, before)
            return sb.reply(sub, p)

    def paid(call: Optional[Call], invoice: Obj) -> None:
        """An invoice of an unsettled subscription is paid: with no other open invoice left, it is active."""
        parent = invoice.get("parent") or {}
        sub_id = (parent.get("subscription_details") or {}).get("subscription")
        sub = store.find(sub_id) if sub_id else None
        if sub is None or sub["status"] not in UNSETTLED:
            return
        if any(other["status"] == "open" and other["id"] != invoice["id"]
               and ((other.get("parent") or {}).get("subscription_details") or {}).get("subscription") == sub_id
               for other in store.newest_first("invoice")):
            return
        before = store.render(sub)
        sub["status"] = "active"
        changed(call, sub, before)

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
                if action == "end_period" and sub["status"] == "trialing":
                    end_trial(None, sub, sub["_period_end"], "subscription_cycle")
                elif action == "end_period":
                    interval, count = interval_of(sb, sub)
                    start = sub["_period_end"]
                    sub.update(_period_start=start, _period_end=period_end(start, interval, count))
                    invoice_period(sb, None, sub, "subscription_cycle")
                else:
                    sub["status"] = action
                changed(None, sub, before)
                return Response(200, store.render(sub))
        except StripeError as error:
            return error.response()

    sb.api("POST", "/v1/subscriptions", create)
    sb.api("POST", "/v1/subscriptions/{id}", update)
    sb.api("DELETE", "/v1/subscriptions/{id}", cancel)
    sb.router.add("POST", "/_sandbox/subscriptions", clock)
    sb.invoice_paid.append(paid)
    subscription_items.register(sb, changed)
