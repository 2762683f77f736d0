"""Invoices: the billing platform's invoices with their lines, as Stripe Invoices with one item per line."""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from zensync_pipelines.catalogs.customers import CURRENCIES
from zensync_pipelines.engine.spec import CatalogSpec, Children, ExternalObject, Field, InvalidValue, Reference

STATUSES = ("draft", "issued", "paid", "void")


def _day(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value)[:10])


def days_until_due(due_date: Any, issued_at: Optional[Any], created_at: Any) -> int:
    """Stripe counts a send_invoice due date in days from issue (from creation for a draft)."""
    days = (_day(due_date) - _day(issued_at or created_at)).days
    if days < 0:
        raise InvalidValue(f"due date {due_date} is before the invoice was issued", "due_before_issue")
    return days


def invoice_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each line with its amount in minor units; a negative quantity rejects the whole invoice."""
    mapped = []
    for line in lines:
        quantity, unit_amount = int(line["quantity"]), int(line["unit_amount"])
        if quantity < 0:
            raise InvalidValue(f"line {line['id']} has a negative quantity ({quantity})", "negative_quantity")
        mapped.append({"id": str(line["id"]), "description": line["description"], "quantity": quantity,
                       "unit_amount": unit_amount, "amount": quantity * unit_amount})
    return mapped


CUSTOMER = Field("customer_id", "customer", required=True, references=Reference("customers", "customer"))
CURRENCY = Field("currency", "currency", required=True, choices=CURRENCIES, transform=str.lower)
STATUS = Field("status", "status", required=True, choices=STATUSES)

SPEC = CatalogSpec(
    name="invoices",
    description="Invoices of the billing platform (table `invoices`) with their lines (table `invoice_lines`).",
    table="invoices",
    primary_key="id",
    cursor_column="updated_at",
    created_at_column="created_at",
    soft_delete_column="deleted_at",
    children=[Children("lines", table="invoice_lines", foreign_key="invoice_id", cursor_column="updated_at",
                       columns=["description", "quantity", "unit_amount"])],
    systems={
        "stripe": [
            ExternalObject("invoice", fields=[
                CUSTOMER, CURRENCY, STATUS,
                Field("due_date", "days_until_due", type="integer", required=True,
                      extra_columns=("issued_at", "created_at"), transform=days_until_due),
                Field("due_date", "metadata.due_date", type="date", required=True),
                Field("number", "metadata.number", max_length=500),
                Field("memo", "description", max_length=1500),
                Field("lines", "lines", type="object", required=True, transform=invoice_lines),
            ]),
        ],
    },
)
