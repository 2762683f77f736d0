"""Shared set-up of the subscription tests: customers and plans in one currency, subscriptions on them, and the
engine's runs against the sandboxes."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, update

from zensync_pipelines.demo.tables import metadata, plans, subscriptions
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines_tests.inbound.helpers import add_customers, hour_ago


def add_catalog(engine, subs: int = 3) -> None:
    """Three usd customers, three usd plans, and `subs` monthly subscriptions (sub i: customer i, plan i)."""
    add_customers(engine, 3)
    metadata.create_all(engine, tables=[plans, subscriptions])
    at = hour_ago()
    with engine.begin() as connection:
        connection.execute(plans.insert(), [
            {"id": i, "name": f"Plan {i}", "description": None, "currency": "usd", "monthly_amount": 1000 * i,
             "yearly_amount": 10000 * i, "created_at": at, "updated_at": at} for i in range(1, 4)])
        connection.execute(subscriptions.insert(), [
            {"id": i, "customer_id": (i - 1) % 3 + 1, "plan_id": (i - 1) % 3 + 1, "interval": "month",
             "quantity": i, "status": "active", "cancel_at_period_end": False, "created_at": at, "updated_at": at}
            for i in range(1, subs + 1)])


def edit(engine, sub_id: int, **values: Any) -> None:
    values.setdefault("updated_at", dt.datetime.now(dt.timezone.utc))
    with engine.begin() as connection:
        connection.execute(update(subscriptions).where(subscriptions.c.id == sub_id).values(**values))


def sub_row(engine, sub_id: int) -> dict[str, Any]:
    with engine.connect() as connection:
        return dict(connection.execute(select(subscriptions).where(subscriptions.c.id == sub_id)).one()._mapping)


def mapping(engine, catalog: str, system: str, internal_id: Any, object_type: str) -> dict[str, Any]:
    [found] = MappingStore(engine).rows(catalog, system, internal_id=str(internal_id), object_type=object_type)
    return found


def price_of(engine, plan_id: int, interval: str) -> str:
    return mapping(engine, "plans", "stripe", plan_id, f"{interval}ly_price")["external_id"]
