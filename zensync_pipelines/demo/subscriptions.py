"""Deterministic demo subscriptions: a valid demo customer on a plan of its own currency, monthly or yearly."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any, Optional

from sqlalchemy import Engine, select

from .invoices import _valid_customer
from .plans import NO_AMOUNT, seed_plans
from .seed import EPOCH, SPAN_DAYS, seed_customers
from .tables import customers, metadata, plans, subscriptions

# A row that breaks the catalog's rules on purpose, by subscription id modulo 50: an interval Stripe has no Price
# for in the plans catalog.
BAD_INTERVAL = 17


def subscription_row(rng: random.Random, sub_id: int, customer_id: int, plan_id: int) -> dict[str, Any]:
    created = EPOCH + dt.timedelta(days=rng.uniform(0, SPAN_DAYS))
    interval = "week" if sub_id % 50 == BAD_INTERVAL else rng.choice(("month", "month", "year"))
    return {"id": sub_id, "customer_id": customer_id, "plan_id": plan_id, "interval": interval,
            "quantity": rng.choice((1, 1, 2, 5, 10, 25)), "status": "active", "started_at": None,
            "cancel_at_period_end": False, "canceled_at": None, "created_at": created,
            "updated_at": created + dt.timedelta(hours=rng.uniform(0, 500)), "deleted_at": None}


def seed_subscriptions(engine: Engine, count: int, customer_count: int, plan_count: int = 20, seed: int = 42,
                       stamp: Optional[dt.datetime] = None) -> int:
    """Write subscriptions 1..count that are missing, seeding customers 1..customer_count and plans 1..plan_count
    first; returns how many were added. Each goes to a valid customer whose currency some plan has, on such a
    plan (Stripe bills a subscription in its price's currency). `stamp`: the new rows' `updated_at`."""
    seed_customers(engine, customer_count, seed, stamp)
    seed_plans(engine, plan_count, seed, stamp)
    metadata.create_all(engine, tables=[subscriptions])
    with engine.connect() as connection:
        currency = dict(connection.execute(select(customers.c.id, customers.c.currency)
                                           .where(customers.c.id <= customer_count)).all())
        by_currency: dict[str, list[int]] = {}
        for plan_id, plan_currency in connection.execute(select(plans.c.id, plans.c.currency)
                                                         .where(plans.c.id <= plan_count)
                                                         .order_by(plans.c.id)):
            if plan_id % 25 != NO_AMOUNT:  # the plan without a monthly price is the plans' own bad row
                by_currency.setdefault(plan_currency, []).append(plan_id)
    candidates = sorted(i for i in currency if _valid_customer(i) and currency[i] in by_currency)
    if count and not candidates:
        raise ValueError("subscriptions need a valid demo customer in a plan's currency: seed more customers")
    rng = random.Random(seed * 104729 + 3)
    rows = []
    for sub_id in range(1, count + 1):
        customer_id = rng.choice(candidates)
        rows.append(subscription_row(rng, sub_id, customer_id, rng.choice(by_currency[currency[customer_id]])))
    with engine.begin() as connection:
        existing = set(connection.execute(select(subscriptions.c.id).where(subscriptions.c.id <= count)).scalars())
        new = [row if stamp is None else row | {"updated_at": stamp} for row in rows if row["id"] not in existing]
        for start in range(0, len(new), 5000):
            connection.execute(subscriptions.insert(), new[start:start + 5000])
    return len(new)
