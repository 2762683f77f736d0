"""Plans: the billing platform's price list, as Stripe Products with a monthly and a yearly Price, and as
Salesforce Product2 records.

A Stripe price's amount, currency, interval and product cannot change: they are create-only, and a change to any
of them replaces the price (a new price, the product's default_price moved to it, the old one archived). A plan
whose product already exists in Stripe under the same name is linked to it instead of getting a second one.

In Salesforce the prices are PricebookEntry records, so quotes use billing's prices. Salesforce keeps one entry
per product, price book and currency, and a product's standard price must exist before any other price book's:
the monthly price is the product's standard price, the yearly one an entry of a second price book. zensync names
each book by its `Zenskar_Id__c` (`standard`, `yearly`), which the org's setup sets (docs/salesforce.md). A
PricebookEntry is updatable, unlike a Stripe price: a new amount moves its UnitPrice. Its product, price book and
currency are set on create only (Salesforce refuses them in an update): a plan moved to another currency gets
new entries in it, and its old ones are deactivated (never deleted: quotes may use them).
"""

from typing import Any

from zensync_pipelines.catalogs.invoices import ZERO_DECIMAL
from zensync_pipelines.engine.spec import CatalogSpec, ExternalObject, Field

ZENSKAR_ID = "Zenskar_Id__c"
CURRENCIES = ("usd", "eur", "gbp", "inr", "cad", "aud", "jpy", "chf", "sgd")
# The price books' Zenskar_Id__c values, as the org's setup gives them.
STANDARD_PRICE_BOOK, YEARLY_PRICE_BOOK = "standard", "yearly"


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


def major_units(amount: Any, currency: Any) -> float:
    """A Salesforce currency field holds major units (29.0, not 2900); a zero-decimal currency's are its minor."""
    return int(amount) if str(currency).lower() in ZERO_DECIMAL else int(amount) / 100


def price_book_entry(key: str, amount_column: str, book: str, after: str) -> ExternalObject:
    """A plan's price as an active PricebookEntry of `book` (its own price, not the standard one), upserted on
    `Zenskar_Id__c` = `<plan id>:<key>`."""
    return ExternalObject(
        # A new currency needs new entries (Salesforce sets it on create only): the old ones are deactivated and
        # keep their quotes' history (systems/salesforce/replace.py).
        "PricebookEntry", key=key, after=after, external_id_field=ZENSKAR_ID, replace_on_change=True, fields=[
            Field("id", "Product2Id", same_row="Product2", create_only=True),
            Field("id", "Pricebook2", type="object", transform=lambda _id: {ZENSKAR_ID: book}, create_only=True),
            Field("currency", "CurrencyIsoCode", required=True, choices=[c.upper() for c in CURRENCIES],
                  transform=str.upper, create_only=True),
            Field(amount_column, "UnitPrice", type="decimal", required=True, extra_columns=("currency",),
                  transform=major_units),
            Field("id", "IsActive", type="boolean", transform=lambda _id: True),
            Field("id", "UseStandardPrice", type="boolean", transform=lambda _id: False),
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
            # The standard entry first: Salesforce refuses any other price book's entry before it.
            price_book_entry("monthly_entry", "monthly_amount", STANDARD_PRICE_BOOK, after="Product2"),
            price_book_entry("yearly_entry", "yearly_amount", YEARLY_PRICE_BOOK, after="monthly_entry"),
        ],
    },
)
