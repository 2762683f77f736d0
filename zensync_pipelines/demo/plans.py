"""Deterministic demo billing plans: a name, a monthly and a yearly price (two months free)."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any, Optional

from sqlalchemy import Engine, select

from .seed import EPOCH, SPAN_DAYS, tenant_rows
from .tables import TENANT, metadata, plans

TIERS = [("Starter", 900), ("Team", 2900), ("Business", 7900), ("Scale", 19900), ("Enterprise", 99900)]
CURRENCIES = ("usd", "usd", "eur", "gbp")
# A plan that breaks the catalog's rules on purpose, by id modulo 25: no monthly amount.
NO_AMOUNT = 13


def plan_row(rng: random.Random, plan_id: int) -> dict[str, Any]:
    tier, monthly = TIERS[(plan_id - 1) % len(TIERS)]
    edition = (plan_id - 1) // len(TIERS) + 1
    created = EPOCH + dt.timedelta(days=rng.uniform(0, SPAN_DAYS))
    return {"id": plan_id, "name": f"{tier} {edition}", "description": f"The {tier} plan, edition {edition}.",
            "currency": rng.choice(CURRENCIES), "monthly_amount": None if plan_id % 25 == NO_AMOUNT else monthly,
            "yearly_amount": monthly * 10, "created_at": created,
            "updated_at": created + dt.timedelta(hours=rng.uniform(0, 500)), "deleted_at": None}


def seed_plans(engine: Engine, count: int, seed: int = 42, stamp: Optional[dt.datetime] = None,
               tenant: str = TENANT, first_id: int = 1) -> int:
    """Write plans first_id..first_id+count-1 that are missing, as `tenant`'s; returns how many were added.
    `stamp` sets the new rows' `updated_at` (the CLI passes now), so a change sensor whose cursor is past the demo
    dates still sees them."""
    metadata.create_all(engine, tables=[plans])
    rng = random.Random(seed)
    last = first_id + count - 1
    rows = tenant_rows([plan_row(rng, i) for i in range(first_id, last + 1)], tenant)
    with engine.begin() as connection:
        existing = set(connection.execute(select(plans.c.id).where(plans.c.id.between(first_id, last))).scalars())
        new = [row if stamp is None else row | {"updated_at": stamp} for row in rows if row["id"] not in existing]
        if new:
            connection.execute(plans.insert(), new)
    return len(new)
