"""Payments: born in Stripe, copied on to Salesforce. The catalog is the hub: Stripe the source, Salesforce a copy.

A row is a Stripe **Charge**, not its PaymentIntent. The Charge is the money that moved: one per attempt, with its
own outcome (`succeeded`, `failed`, `pending`: a declined card is a failed charge a RevOps report wants to see),
and the refunded amount (`amount_refunded`, and `refunded` once all of it is), which a refund moves and announces
with `charge.refunded`. A PaymentIntent is the intention to collect: it may try several charges, carries no
refunded amount, and reports no refund at all. Stripe's current API names a charge's invoice nowhere on the
charge: the Stripe reader adds it from the InvoicePayment that links them (systems/stripe/links.py).

- stripe, `inbound_only`: zensync never writes charges. Each new charge (webhook or poll, through the inbox)
  becomes a row (`create_rows`); a later event of it (a refund) updates that row. Its invoice and customer are
  resolved through the invoices' and customers' Stripe mappings: a charge whose invoice or customer no mapping
  names yet fails alone (`unknown_reference`) and is retried with backoff, never written with a dangling id.
- salesforce, `upsert`: each row becomes a `Payment__c` (upserted on Zenskar_Id__c) linked to its `Invoice__c`
  and its Account, waiting for them as invoices wait for their customers. A payment is never deleted.
"""

from zensync_pipelines.catalogs.customers import CURRENCIES, ZENSKAR_ID
from zensync_pipelines.catalogs.invoices import ZERO_DECIMAL, from_unix
from zensync_pipelines.engine.spec import CatalogSpec, ExternalObject, Field, Inbound, Reference
from zensync_pipelines.engine.strategy import INBOUND_ONLY, UPSERT, Strategy

STATUSES = ("succeeded", "pending", "failed")  # Stripe's charge statuses, every one it documents


def major_units(amount: int, currency: str) -> float:
    """Salesforce currency fields hold major units (12.34, not 1234); zero-decimal currencies have no minor unit."""
    return amount if str(currency).lower() in ZERO_DECIMAL else amount / 100


def payment_name(payment_id: object) -> str:
    return f"PAY-{payment_id}"


SPEC = CatalogSpec(
    name="payments",
    description="Payments made in Stripe (table `payments`): one row per charge, with its invoice and customer.",
    table="payments",
    tenant_column="tenant_id",  # whose row it is: a tenant's runs read and write its own rows only
    primary_key="id",
    cursor_column="updated_at",
    created_at_column="created_at",
    partition_start="2025-01-01",
    strategies={"stripe": Strategy(mode=INBOUND_ONLY), "salesforce": Strategy(mode=UPSERT)},
    systems={
        "stripe": [
            ExternalObject("charge", inbound=Inbound(create_rows=True), fields=[
                Field("amount", "amount", type="integer", required=True, direction="in"),
                Field("amount_refunded", "amount_refunded", type="integer", required=True, direction="in"),
                Field("currency", "currency", required=True, choices=CURRENCIES, direction="in"),
                Field("status", "status", required=True, choices=STATUSES, direction="in"),
                # Stripe's own flag: true once the whole amount is refunded; a partial refund leaves it false with
                # amount_refunded above 0. The status stays the charge's outcome (a refunded charge succeeded).
                Field("refunded", "refunded", type="boolean", required=True, direction="in"),
                # When the charge was made (a failed one: when it was declined; its status says which).
                Field("paid_at", "created", type="datetime", direction="in", inbound_transform=from_unix),
                Field("customer_id", "customer", type="integer", required=True, direction="in",
                      references=Reference("customers", "customer")),
                # None for a charge no invoice asked for; an invoice the catalog does not know fails the event.
                Field("invoice_id", "invoice", type="integer", direction="in",
                      references=Reference("invoices", "invoice")),
            ]),
        ],
        "salesforce": [
            ExternalObject("Payment__c", external_id_field=ZENSKAR_ID, fields=[
                Field("id", "Name", required=True, max_length=80, transform=payment_name),
                Field("invoice_id", "Invoice__c", references=Reference("invoices", "Invoice__c", label="invoice")),
                Field("customer_id", "Account__c", required=True,
                      references=Reference("customers", "Account", label="customer")),
                Field("amount", "Amount__c", type="decimal", required=True, extra_columns=("currency",),
                      transform=major_units),
                Field("amount_refunded", "Amount_Refunded__c", type="decimal", required=True,
                      extra_columns=("currency",), transform=major_units),
                Field("currency", "Currency__c", required=True, choices=[c.upper() for c in CURRENCIES],
                      transform=str.upper),
                Field("status", "Status__c", required=True, choices=STATUSES),
                Field("refunded", "Refunded__c", type="boolean", required=True),
                Field("paid_at", "Paid_At__c", type="datetime"),
            ]),
        ],
    },
)
