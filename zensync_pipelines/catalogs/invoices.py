"""Invoices: the billing platform's invoices with their lines, as Stripe Invoices with one item per line and as
Salesforce `Invoice__c` records carrying the total."""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from zensync_pipelines.catalogs.customers import CURRENCIES, ZENSKAR_ID
from zensync_pipelines.engine.spec import (RECREATE, CatalogSpec, Children, ExternalObject, Field, Inbound,
                                           InvalidValue, Reference)

# "uncollectible" arrives from Stripe (support marks an invoice uncollectible there); billing may set it too.
STATUSES = ("draft", "issued", "paid", "void", "uncollectible")
# Stripe's invoice statuses -> the catalog's. Every status Stripe documents is listed: a status missing here is
# an unknown status, a per-event failure with that reason, never a guess.
FROM_STRIPE_STATUS = {"draft": "draft", "open": "issued", "paid": "paid", "void": "void",
                      "uncollectible": "uncollectible"}


def from_unix(value: Any) -> dt.datetime:
    """Stripe's timestamps are Unix seconds; the catalog keeps timezone-aware datetimes."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise InvalidValue(f"expected Unix seconds, got {value!r}", "invalid_timestamp")
    return dt.datetime.fromtimestamp(value, dt.timezone.utc)


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


# Stripe's zero-decimal currencies among the catalog's: their minor unit is the unit itself.
ZERO_DECIMAL = {"jpy"}


def invoice_total(lines: list[dict[str, Any]], currency: Any) -> float:
    """The invoice's total in major units, as Salesforce currency fields hold it (123.45, not 12345)."""
    minor = sum(line["amount"] for line in invoice_lines(lines))
    return minor if str(currency).lower() in ZERO_DECIMAL else minor / 100


CUSTOMER = Field("customer_id", "customer", required=True, references=Reference("customers", "customer"))
CURRENCY = Field("currency", "currency", required=True, choices=CURRENCIES, transform=str.lower)
STATUS = Field("status", "status", required=True, choices=STATUSES)
# Stripe decides an invoice's fate once it is sent: a card payment, a void or a write-off there is a fact the
# catalog must take, even over a newer catalog edit (Stripe refuses to move a paid or void invoice back anyway).
STATUS_BOTH = Field("status", "status", required=True, choices=STATUSES, direction="both", conflict="system_wins",
                    inbound_values=FROM_STRIPE_STATUS)

SPEC = CatalogSpec(
    name="invoices",
    description="Invoices of the billing platform (table `invoices`) with their lines (table `invoice_lines`).",
    table="invoices",
    primary_key="id",
    cursor_column="updated_at",
    created_at_column="created_at",
    soft_delete_column="deleted_at",
    tenant_column="tenant_id",  # whose row it is: a tenant's runs read and write its own rows only
    partition_start="2025-01-01",  # as the customers': the demo data starts here
    children=[Children("lines", table="invoice_lines", foreign_key="invoice_id", cursor_column="updated_at",
                       columns=["description", "quantity", "unit_amount"])],
    systems={
        "stripe": [
            # Two-way for the invoice's fate: status comes back (system wins, see STATUS_BOTH) with the times
            # Stripe recorded it paid or voided, which only Stripe knows (inbound-only, never sent). Amounts,
            # lines, dates and the customer stay outbound: billing computes them. A draft deleted in Stripe is
            # re-created by the next outbound run, as the catalog still bills it; Stripe allows no other delete.
            # Invoices created in Stripe by hand are not imported.
            ExternalObject("invoice", inbound=Inbound(on_delete=RECREATE, create_rows=False), fields=[
                CUSTOMER, CURRENCY, STATUS_BOTH,
                Field("due_date", "days_until_due", type="integer", required=True,
                      extra_columns=("issued_at", "created_at"), transform=days_until_due),
                Field("due_date", "metadata.due_date", type="date", required=True),
                Field("number", "metadata.number", max_length=500),
                Field("memo", "description", max_length=1500),
                Field("lines", "lines", type="object", required=True, transform=invoice_lines),
                Field("paid_at", "status_transitions.paid_at", type="datetime", direction="in",
                      inbound_transform=from_unix),
                Field("voided_at", "status_transitions.voided_at", type="datetime", direction="in",
                      inbound_transform=from_unix),
            ]),
        ],
        "salesforce": [
            # The Account's Salesforce Id comes from the customers' mapping, so an invoice waits for its customer.
            ExternalObject("Invoice__c", external_id_field=ZENSKAR_ID, fields=[
                Field("number", "Name", required=True, max_length=80),
                Field("customer_id", "Account__c", required=True,
                      references=Reference("customers", "Account", label="customer")),
                Field("lines", "Amount__c", type="decimal", required=True, extra_columns=("currency",),
                      transform=invoice_total),
                Field("currency", "Currency__c", required=True, choices=[c.upper() for c in CURRENCIES],
                      transform=str.upper),
                Field("status", "Status__c", required=True, choices=STATUSES),
                Field("issued_at", "Issued_Date__c", type="date"),
                Field("due_date", "Due_Date__c", type="date", required=True),
            ]),
        ],
    },
)
