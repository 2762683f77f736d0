"""Realistic, deterministic demo rows: the same seed always writes the same catalog."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any, Optional

from sqlalchemy import Engine, select

from .tables import TENANT, customers, metadata

FIRST = ["Ada", "Grace", "Alan", "Katherine", "Linus", "Margaret", "Tim", "Barbara", "Dennis", "Frances",
         "Ken", "Radia", "Guido", "Hedy", "John", "Sophie", "Claude", "Edsger", "Lynn", "Donald"]
LAST = ["Lovelace", "Hopper", "Turing", "Johnson", "Torvalds", "Hamilton", "Berners-Lee", "Liskov", "Ritchie",
        "Allen", "Thompson", "Perlman", "van Rossum", "Lamarr", "Backus", "Wilson", "Shannon", "Dijkstra",
        "Conway", "Knuth"]
COMPANY_SUFFIX = ["Labs", "Systems", "Analytics", "Logistics", "Foods", "Studio", "Health", "Energy"]
PLACES = [("San Francisco", "CA", "US", "94107", "usd"), ("New York", "NY", "US", "10001", "usd"),
          ("London", "", "GB", "EC1A 1BB", "gbp"), ("Berlin", "", "DE", "10115", "eur"),
          ("Paris", "", "FR", "75001", "eur"), ("Bengaluru", "KA", "IN", "560001", "inr"),
          ("Toronto", "ON", "CA", "M5H 2N2", "cad"), ("Sydney", "NSW", "AU", "2000", "aud")]
STREETS = ["Market St", "Main St", "High Street", "Hauptstrasse", "Rue de Rivoli", "MG Road", "King St W"]
EPOCH = dt.datetime(2025, 1, 1, tzinfo=dt.timezone.utc)
SPAN_DAYS = 640  # created_at spreads over ~21 months, so monthly backfill partitions have data
# The demo keeps ids unique across tenants (tables.tenant_id says why): tenant number k's rows are ids
# k * TENANT_IDS + 1 .. and the default tenant's 1 .., so a tenant has room for 99,999 of each.
TENANT_IDS = 100_000


def tenant_rows(rows: list[dict[str, Any]], tenant: str) -> list[dict[str, Any]]:
    """Rows marked as `tenant`'s; the default tenant's name none, so that the column's server default holds it."""
    return rows if tenant == TENANT else [row | {"tenant_id": tenant} for row in rows]


def customer_row(rng: random.Random, customer_id: int) -> dict[str, Any]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    city, state, country, postal, currency = rng.choice(PLACES)
    person = rng.random() < 0.5
    name = f"{first} {last}" if person else f"{last} {rng.choice(COMPANY_SUFFIX)}"
    created = EPOCH + dt.timedelta(days=rng.uniform(0, SPAN_DAYS))
    row = {
        "id": customer_id, "name": name,
        "email": f"{first}.{last}.{customer_id}@example.com".lower().replace(" ", ""),
        "phone": f"+1555{rng.randrange(10**6, 10**7)}",
        "address_line1": f"{rng.randrange(1, 999)} {rng.choice(STREETS)}",
        "address_line2": rng.choice([None, None, f"Suite {rng.randrange(100, 999)}"]),
        "city": city, "state": state or None, "postal_code": postal, "country": country, "currency": currency,
        "created_at": created, "updated_at": created + dt.timedelta(hours=rng.uniform(0, 2000)), "deleted_at": None,
    }
    # A few rows break the catalog's rules on purpose, so the demo and tests show how failures surface.
    if customer_id % 50 == 7:
        row["name"] = None
    elif customer_id % 50 == 23:
        row["name"] = "Acme " + "x" * 295  # 300 characters: over Stripe's and Salesforce's limits
    elif customer_id % 50 == 41:
        row["email"] = "not-an-email"
    return row


def seed_customers(engine: Engine, count: int, seed: int = 42, stamp: Optional[dt.datetime] = None,
                   tenant: str = TENANT, first_id: int = 1) -> int:
    """Write customers first_id..first_id+count-1 that are missing, as `tenant`'s; returns how many were added.

    `stamp` sets the new rows' `updated_at` (the CLI passes now): rows added to a catalog a change sensor already
    watches must land after its cursor, or it never sees them. Without it the rows keep their seeded history."""
    metadata.create_all(engine, tables=[customers])
    rng = random.Random(seed)
    last = first_id + count - 1
    rows = tenant_rows([customer_row(rng, i) for i in range(first_id, last + 1)], tenant)
    with engine.begin() as connection:
        existing = set(connection.execute(select(customers.c.id).where(customers.c.id.between(first_id, last)))
                       .scalars())
        new = [row if stamp is None else row | {"updated_at": stamp} for row in rows if row["id"] not in existing]
        for start in range(0, len(new), 5000):
            connection.execute(customers.insert(), new[start:start + 5000])
    return len(new)
