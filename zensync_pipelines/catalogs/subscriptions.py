"""Subscriptions: which plan each customer pays for, monthly or yearly, and how many seats; as Stripe Subscriptions
with one item on the plan's Price for that interval, and as Salesforce `Subscription__c` records linked to the
Account and the Product2.

Billing decides what is subscribed; Stripe decides what became of it. A changed plan or interval moves the item to
the other Price (no second item), a changed quantity updates it, and `cancel_at_period_end` or a `canceled` status
in the catalog cancels at period end or now (systems/stripe/subscriptions.py). The status Stripe reports (active,
past_due, canceled, ...) comes back system-wins with `canceled_at`, so a subscription cancelled in the Stripe
dashboard shows as cancelled here.
"""

from typing import Any

from zensync_pipelines.catalogs.customers import ZENSKAR_ID
from zensync_pipelines.catalogs.invoices import from_unix
from zensync_pipelines.engine.spec import UNLINK, CatalogSpec, ExternalObject, Field, Inbound, InvalidValue, Reference

INTERVALS = ("month", "year")
# Every status Stripe documents for a subscription: the catalog takes each as Stripe reports it. Billing sets
# `canceled` itself to cancel now; it never sets the others, which only Stripe can decide.
STATUSES = ("incomplete", "incomplete_expired", "trialing", "active", "past_due", "canceled", "unpaid", "paused")
# Invoices are sent (collection_method=send_invoice), so no payment method is needed; due this many days after.
DAYS_UNTIL_DUE = 30
# The plan's Price for the row's interval: the plans catalog maps each plan to a monthly and a yearly Price.
PLAN_PRICE = Reference("plans", "price", label="plan's price", select_by="interval",
                       select={"month": "monthly_price", "year": "yearly_price"})


def seats(quantity: Any) -> int:
    if int(quantity) < 0:
        raise InvalidValue(f"quantity {quantity} is negative", "negative_quantity")
    return int(quantity)


SPEC = CatalogSpec(
    name="subscriptions",
    description="Customers' subscriptions to plans (table `subscriptions`).",
    table="subscriptions",
    tenant_column="tenant_id",  # whose row it is: a tenant's runs read and write its own rows only
    primary_key="id",
    cursor_column="updated_at",
    created_at_column="created_at",
    soft_delete_column="deleted_at",  # a deleted row cancels the subscription now
    partition_start="2025-01-01",  # as the customers': the demo data starts here
    systems={
        "stripe": [
            # Subscriptions created in Stripe by hand are not imported (billing creates them); a cancelled one is
            # not deleted in Stripe (it stays, status canceled), so there is nothing to unlink but the policy's.
            ExternalObject("subscription", inbound=Inbound(on_delete=UNLINK, create_rows=False), fields=[
                Field("customer_id", "customer", required=True, references=Reference("customers", "customer")),
                Field("plan_id", "price", required=True, references=PLAN_PRICE),
                Field("quantity", "quantity", type="integer", required=True, transform=seats),
                Field("id", "collection_method", transform=lambda _id: "send_invoice"),
                Field("id", "days_until_due", type="integer", transform=lambda _id: DAYS_UNTIL_DUE),
                # Support may set or undo "cancel at period end" in the dashboard; the newer change wins.
                Field("cancel_at_period_end", "cancel_at_period_end", type="boolean", direction="both",
                      conflict="newest_wins"),
                Field("status", "status", required=True, choices=STATUSES, direction="both",
                      conflict="system_wins"),
                Field("started_at", "start_date", type="datetime", direction="in", inbound_transform=from_unix),
                Field("canceled_at", "canceled_at", type="datetime", direction="in", inbound_transform=from_unix),
                Field("plan_id", "metadata.plan_id"),
                Field("interval", "metadata.interval", required=True, choices=INTERVALS),
            ]),
        ],
        "salesforce": [
            # The Account's and the Product2's Salesforce Ids come from the customers' and plans' mappings.
            ExternalObject("Subscription__c", external_id_field=ZENSKAR_ID, fields=[
                Field("id", "Name", transform=lambda sub_id: f"SUB-{sub_id}", max_length=80),
                Field("customer_id", "Account__c", required=True,
                      references=Reference("customers", "Account", label="customer")),
                Field("plan_id", "Product__c", required=True,
                      references=Reference("plans", "Product2", label="plan")),
                Field("interval", "Interval__c", required=True, choices=INTERVALS),
                Field("quantity", "Quantity__c", type="integer", required=True, transform=seats),
                Field("status", "Status__c", required=True, choices=STATUSES),
                Field("started_at", "Started_At__c", type="datetime"),
                Field("cancel_at_period_end", "Cancel_At_Period_End__c", type="boolean"),
                Field("canceled_at", "Canceled_At__c", type="datetime"),
            ]),
        ],
    },
)
