"""Shared set-up of the inbound tests: a small catalog synced to the Stripe sandbox through the real SDK, changes
made "by hand" in Stripe (a client whose requests carry no zensync key), and inbound runs of the engine."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from typing import Any, Iterable, Optional

import stripe
from sqlalchemy import select, update

from zensync_pipelines.catalogs import load_specs
from zensync_pipelines.demo.tables import customers, invoice_lines, invoices, metadata
from zensync_pipelines.engine.inbound.run import InboundRun
from zensync_pipelines.engine.spec import inbound_routes
from zensync_pipelines.engine.sync import Selection, sync
from zensync_pipelines.store.catalog import CatalogTables
from zensync_pipelines.store.inbound_apply import InboundTables
from zensync_pipelines.store.inbox import InboxStore
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines.systems.stripe import StripeAdapter
from zensync_pipelines.systems.stripe.current import StripeCurrentState
from zensync_pipelines.systems.stripe.inbound import StripeEvents, to_inbox_event

SPECS = {spec.name: spec for spec in load_specs()}
ROUTES = inbound_routes(list(SPECS.values()), "stripe")
KEY = "sk_test_inbound"
_runs = itertools.count()


def hour_ago() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc) - dt.timedelta(hours=1)


def add_customers(engine, count: int = 3) -> None:
    metadata.create_all(engine, tables=[customers, invoices, invoice_lines])
    at = hour_ago()
    with engine.begin() as connection:
        connection.execute(customers.insert(), [
            {"id": i, "name": f"Customer {i}", "email": f"c{i}@example.com", "phone": f"+1555000{i:04d}",
             "address_line1": f"{i} Main St", "city": "Springfield", "postal_code": "12345", "country": "US",
             "currency": "usd", "created_at": at, "updated_at": at} for i in range(1, count + 1)])


def add_invoice(engine, invoice_id: int, customer_id: int, status: str = "issued") -> None:
    at = hour_ago()
    with engine.begin() as connection:
        connection.execute(invoices.insert(), {
            "id": invoice_id, "customer_id": customer_id, "number": f"INV-{invoice_id}", "currency": "usd",
            "status": status, "issued_at": at, "due_date": (at + dt.timedelta(days=30)).date(), "created_at": at,
            "updated_at": at})
        connection.execute(invoice_lines.insert(), {"id": invoice_id * 10, "invoice_id": invoice_id,
                                                    "description": "Plan", "quantity": 1, "unit_amount": 1000,
                                                    "created_at": at, "updated_at": at})


def adapter(url: str) -> StripeAdapter:
    return StripeAdapter(KEY, url, rate_limit_per_second=500, max_network_retries=0)


def push(engine, url: str, catalog: str = "customers"):
    """One outbound run of the whole catalog; returns its report."""
    return sync(SPECS[catalog], "stripe", CatalogTables(engine), MappingStore(engine), adapter(url),
                f"out-{next(_runs)}", Selection())


def by_hand(url: str) -> stripe.StripeClient:
    """A Stripe user: the dashboard's requests carry no zensync idempotency key."""
    return stripe.StripeClient(KEY, base_addresses={"api": url}, max_network_retries=0)


def stripe_id(engine, catalog: str, internal_id: Any, object_type: Optional[str] = None) -> str:
    object_type = object_type or {"customers": "customer", "invoices": "invoice"}[catalog]
    [row] = MappingStore(engine).rows(catalog, "stripe", internal_id=str(internal_id), object_type=object_type)
    return row["external_id"]


def stripe_events(url: str) -> list[dict[str, Any]]:
    """Every event the sandbox recorded, oldest first, as plain dicts (what a webhook body holds)."""
    listed = by_hand(url).v1.events.list(params={"limit": 100})
    # Through JSON, as a webhook body arrives (the SDK turns *_decimal strings into Decimals).
    return [json.loads(json.dumps(event.to_dict(), default=str)) for event in listed.auto_paging_iter()][::-1]


def store_events(engine, events: Iterable[dict[str, Any]]) -> int:
    rows = [row for row in (to_inbox_event(event, ROUTES, source="poll") for event in events) if row is not None]
    return InboxStore(engine).add(rows)


def pull(engine, url: str) -> int:
    """Every sandbox event into the inbox (deduplicated by event id), as polling would."""
    return store_events(engine, stripe_events(url))


def inbound(engine, url: str, catalog: str = "customers", fetcher: Any = None):
    fetcher = fetcher or StripeCurrentState(adapter(url))
    return InboundRun(SPECS[catalog], "stripe", InboundTables(engine), StripeEvents(), fetcher,
                      f"in-{next(_runs)}").run()


def row(engine, table, key: Any) -> dict[str, Any]:
    with engine.connect() as connection:
        return dict(connection.execute(select(table).where(table.c.id == key)).one()._mapping)


def edit(engine, table, key: Any, **values: Any) -> None:
    values.setdefault("updated_at", dt.datetime.now(dt.timezone.utc))
    with engine.begin() as connection:
        connection.execute(update(table).where(table.c.id == key).values(**values))


def outcomes(engine, catalog: str) -> list[str]:
    return [event["outcome"] for event in InboxStore(engine).rows(catalog=catalog)]
