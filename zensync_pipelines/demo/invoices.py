"""Deterministic demo invoices and their lines, for customers the customer seed wrote."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any, Optional

from sqlalchemy import Engine, select

from .seed import EPOCH, SPAN_DAYS, seed_customers
from .tables import customers, invoice_lines, invoices, metadata

STATUSES = ("draft", "issued", "issued", "paid", "paid", "paid", "void")
PRODUCTS = [("Platform subscription", 4900), ("Seat licence", 1200), ("API calls (per 1,000)", 25),
            ("Onboarding package", 150000), ("Premium support", 9900), ("Storage (per GB)", 300),
            ("Usage overage", 75), ("Training session", 45000)]
# Rows that break the catalog's rules on purpose, by invoice id modulo 50 (the customer seed uses 7, 23, 41).
NEGATIVE_QUANTITY, UNKNOWN_CURRENCY, MISSING_CUSTOMER = 13, 29, 37
MAX_LINES = 5


def _valid_customer(customer_id: int) -> bool:
    return customer_id % 50 not in (7, 23, 41)


def invoice_rows(rng: random.Random, invoice_id: int, customer_id: int, currency: str
                 ) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    status = rng.choice(STATUSES)
    created = EPOCH + dt.timedelta(days=rng.uniform(0, SPAN_DAYS))
    issued = None if status == "draft" else created + dt.timedelta(hours=rng.uniform(1, 72))
    due = ((issued or created) + dt.timedelta(days=rng.choice((14, 30, 45, 60)))).date()
    updated = (issued or created) + dt.timedelta(hours=rng.uniform(0, 500))
    invoice = {"id": invoice_id, "customer_id": customer_id, "number": f"INV-{created:%Y}-{invoice_id:05d}",
               "currency": currency, "status": status, "issued_at": issued, "due_date": due,
               "memo": rng.choice([None, "Thank you for your business.", f"PO {rng.randrange(10**5, 10**6)}"]),
               "created_at": created, "updated_at": updated, "deleted_at": None}
    lines = []
    for position, (description, unit) in enumerate(rng.sample(PRODUCTS, rng.randint(2, MAX_LINES)), start=1):
        lines.append({"id": invoice_id * 10 + position, "invoice_id": invoice_id, "description": description,
                      "quantity": rng.randint(1, 20), "unit_amount": unit,
                      "created_at": created, "updated_at": created})
    if invoice_id % 50 == NEGATIVE_QUANTITY:
        lines[0]["quantity"] = -3
    elif invoice_id % 50 == UNKNOWN_CURRENCY:
        invoice["currency"] = "xyz"
    elif invoice_id % 50 == MISSING_CUSTOMER:
        invoice["customer_id"] = None
    return invoice, lines


def seed_invoices(engine: Engine, count: int, customer_count: int, seed: int = 42,
                  stamp: Optional[dt.datetime] = None) -> tuple[int, int]:
    """Write invoices 1..count (and their lines) that are missing, seeding customers 1..customer_count first.

    Returns (invoices added, lines added). Each invoice's customer is a valid demo customer, in its currency.
    `stamp`, when given, is the new rows' `updated_at` (see seed_customers).
    """
    seed_customers(engine, customer_count, seed, stamp)
    metadata.create_all(engine, tables=[invoices, invoice_lines])
    with engine.connect() as connection:
        currency = dict(connection.execute(select(customers.c.id, customers.c.currency)
                                           .where(customers.c.id <= customer_count)).all())
    candidates = sorted(i for i in currency if _valid_customer(i))
    if count and not candidates:
        raise ValueError("invoices need at least one valid demo customer: seed more customers")
    rng = random.Random(seed * 7919 + 1)
    rows, lines = [], []
    for invoice_id in range(1, count + 1):
        customer_id = rng.choice(candidates)
        invoice, its_lines = invoice_rows(rng, invoice_id, customer_id, currency[customer_id])
        rows.append(invoice)
        lines += its_lines
    with engine.begin() as connection:
        existing = set(connection.execute(select(invoices.c.id).where(invoices.c.id <= count)).scalars())
        new = [row if stamp is None else row | {"updated_at": stamp} for row in rows if row["id"] not in existing]
        new_lines = [line if stamp is None else line | {"updated_at": stamp}
                     for line in lines if line["invoice_id"] not in existing]
        for start in range(0, len(new), 5000):
            connection.execute(invoices.insert(), new[start:start + 5000])
        for start in range(0, len(new_lines), 5000):
            connection.execute(invoice_lines.insert(), new_lines[start:start + 5000])
    return len(new), len(new_lines)
