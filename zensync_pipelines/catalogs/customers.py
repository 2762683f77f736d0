"""Customers: the billing platform's customer accounts, as Stripe Customers."""

from zensync_pipelines.engine.spec import CatalogSpec, ExternalObject, Field

CURRENCIES = ("usd", "eur", "gbp", "inr", "cad", "aud", "jpy", "chf", "sgd")

SPEC = CatalogSpec(
    name="customers",
    description="Customer accounts of the billing platform (table `customers`).",
    table="customers",
    primary_key="id",
    cursor_column="updated_at",
    created_at_column="created_at",
    soft_delete_column="deleted_at",
    partition_start="2025-01-01",  # the demo data starts here; older rows still sync, they have no month
    systems={
        "stripe": [
            ExternalObject("customer", fields=[
                # Stripe's own limits: name 256, email 512, phone 20 characters.
                Field("name", "name", required=True, max_length=256),
                Field("email", "email", type="email", max_length=512),
                Field("phone", "phone", max_length=20),
                Field("address_line1", "address.line1", max_length=200),
                Field("address_line2", "address.line2", max_length=200),
                Field("city", "address.city", max_length=100),
                Field("state", "address.state", max_length=100),
                Field("postal_code", "address.postal_code", max_length=20),
                Field("country", "address.country", max_length=2),
                # A Stripe customer's currency is set by its first invoice; keep the catalog's in metadata.
                Field("currency", "metadata.currency", choices=CURRENCIES, transform=str.lower),
            ]),
        ],
    },
)
