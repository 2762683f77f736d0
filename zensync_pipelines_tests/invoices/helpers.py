"""Shared set-up of the invoice tests: a seeded catalog, runs of the engine, and Stripe read back by the SDK."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

import stripe
from sqlalchemy import select, update

from zensync_pipelines.catalogs import load_specs
from zensync_pipelines.demo.tables import invoice_lines, invoices
from zensync_pipelines.engine.sync import Selection, sync
from zensync_pipelines.store.catalog import CatalogTables
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines.systems.stripe import StripeAdapter

SPECS = {spec.name: spec for spec in load_specs()}
KEY = "sk_test_invoices"


def run(engine, url, catalog: str, run_id: str, **options: Any):
    adapter = StripeAdapter(KEY, url, **({"rate_limit_per_second": 500, "max_network_retries": 0} | options))
    return sync(SPECS[catalog], "stripe", CatalogTables(engine), MappingStore(engine), adapter, run_id, Selection())


def client(url: str) -> stripe.StripeClient:
    return stripe.StripeClient(KEY, base_addresses={"api": url})


def remote_invoices(url: str) -> dict[str, list[Any]]:
    """zenskar id -> the Stripe invoices carrying it (a list, so duplicates would show)."""
    found = defaultdict(list)
    for invoice in client(url).v1.invoices.list(params={"limit": 100}).auto_paging_iter():
        found[invoice.metadata["zenskar_id"]].append(invoice)
    return dict(found)


def remote_items(url: str, invoice_id: str) -> dict[str, Any]:
    listed = client(url).v1.invoice_items.list(params={"invoice": invoice_id, "limit": 100})
    return {item.metadata["zenskar_line_id"]: item for item in listed.auto_paging_iter()}


def catalog_rows(engine) -> tuple[dict[str, dict], dict[str, list[dict]]]:
    with engine.connect() as connection:
        rows = {str(r.id): dict(r._mapping) for r in connection.execute(select(invoices))}
        lines = defaultdict(list)
        for line in connection.execute(select(invoice_lines).order_by(invoice_lines.c.id)):
            lines[str(line.invoice_id)].append(dict(line._mapping))
    return rows, dict(lines)


def touch(engine, invoice_id: int, **values: Any) -> None:
    with engine.begin() as connection:
        connection.execute(update(invoices).where(invoices.c.id == invoice_id)
                           .values(updated_at=dt.datetime.now(dt.timezone.utc), **values))


def set_line(engine, line_id: int, **values: Any) -> None:
    """Change one line only: the invoice's own row and cursor stay as they were."""
    with engine.begin() as connection:
        connection.execute(update(invoice_lines).where(invoice_lines.c.id == line_id)
                           .values(updated_at=dt.datetime.now(dt.timezone.utc), **values))


def mapping(engine, internal_id: str) -> dict[str, Any]:
    [row] = MappingStore(engine).rows("invoices", "stripe", internal_id=internal_id)
    return row
