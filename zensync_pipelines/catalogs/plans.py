"""Plans: the billing platform's price list, as Stripe Products with a monthly and a yearly Price, and as
Salesforce Product2 records.

A Stripe price's amount, currency, interval and product cannot change: they are create-only, and a change to any
of them replaces the price (a new price, the product's default_price moved to it, the old one archived). A plan
whose product already exists in Stripe under the same name is linked to it instead of getting a second one.
"""

from zensync_pipelines.engine.spec import CatalogSpec, ExternalObject, Field

ZENSKAR_ID = "Zenskar_Id__c"
CURRENCIES = ("usd", "eur", "gbp", "inr", "cad", "aud", "jpy", "chf", "sgd")


def price(key: str, amount_column: str, interval: str) -> ExternalObject:
    return ExternalObject(
        "price", key=key, after="product", replace_on_change=True,
        pointed_by=("product", "default_price") if interval == "month" else None, fields=[
            Field("id", "product", same_row="product", create_only=True),
            Field(amount_column, "unit_amount", type="integer", required=True, create_only=True),
            Field("currency", "currency", required=True, choices=CURRENCIES, transform=str.lower,
                  create_only=True),
            Field("id", "recurring.interval", transform=lambda _id: interval, create_only=True),
            Field("name", "nickname", max_length=250, transform=lambda name: f"{name} ({interval}ly)"),
        ])


SPEC = CatalogSpec(
    name="plans",
    description="Billing plans and their prices (table `plans`).",
    table="plans",
    primary_key="id",
    cursor_column="updated_at",
    created_at_column="created_at",
    soft_delete_column="deleted_at",
    tenant_column="tenant_id",  # whose row it is: a tenant's runs read and write its own rows only
    partition_start="2025-01-01",
    systems={
        "stripe": [
            ExternalObject("product", lookup="name", fields=[
                Field("name", "name", required=True, max_length=250),
                Field("description", "description", max_length=500),
            ]),
            price("monthly_price", "monthly_amount", "month"),
            price("yearly_price", "yearly_amount", "year"),
        ],
        "salesforce": [
            # Product2.Name is 255 characters, ProductCode 255, Description 4000.
            ExternalObject("Product2", external_id_field=ZENSKAR_ID, fields=[
                Field("name", "Name", required=True, max_length=255),
                Field("id", "ProductCode", transform=lambda plan_id: f"PLAN-{plan_id}"),
                Field("description", "Description", max_length=4000),
            ]),
        ],
    },
)
