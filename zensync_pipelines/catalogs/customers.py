"""Customers: the billing platform's customer accounts, as Stripe Customers and Salesforce Accounts + Contacts."""

from zensync_pipelines.engine.spec import RECREATE, CatalogSpec, ExternalObject, Field, Inbound

ZENSKAR_ID = "Zenskar_Id__c"  # the external-id field on Salesforce objects: upserts on it never duplicate


def last_name(name: str) -> str:
    """Salesforce requires a Contact's LastName: the name's last word."""
    return name.split()[-1] if name.split() else name


def first_name(name: str) -> str:
    return " ".join(name.split()[:-1])


def account_lookup(customer_id: object) -> dict[str, str]:
    """Link a Contact to its row's Account by the Account's external id, so no Salesforce Id is needed."""
    return {ZENSKAR_ID: str(customer_id)}


CURRENCIES = ("usd", "eur", "gbp", "inr", "cad", "aud", "jpy", "chf", "sgd")

SPEC = CatalogSpec(
    name="customers",
    description="Customer accounts of the billing platform (table `customers`).",
    table="customers",
    primary_key="id",
    cursor_column="updated_at",
    created_at_column="created_at",
    soft_delete_column="deleted_at",
    tenant_column="tenant_id",  # whose row it is: a tenant's runs read and write its own rows only
    partition_start="2025-01-01",  # the demo data starts here; older rows still sync, they have no month
    systems={
        "stripe": [
            # Two-way. Support fixes a customer's contact details in the Stripe dashboard, and customers edit them
            # in Stripe's billing portal: email, phone and address come back, and when both sides changed, the
            # newer change wins (the event's time against `updated_at`). The name and currency stay the billing
            # platform's own (outbound only): a dashboard edit of those is drift the reconcile puts back.
            # A customer deleted in Stripe is unlinked and re-created by the next outbound run, never deleted
            # here: the catalog is billing's source of truth, and invoices still point at the customer.
            # Customers created in Stripe by hand (no zensync tag) are not imported: billing creates customers.
            ExternalObject("customer", inbound=Inbound(on_delete=RECREATE, create_rows=False), fields=[
                # Stripe's own limits: name 256, email 512, phone 20 characters.
                Field("name", "name", required=True, max_length=256),
                Field("email", "email", type="email", max_length=512, direction="both", conflict="newest_wins"),
                Field("phone", "phone", max_length=20, direction="both", conflict="newest_wins"),
                Field("address_line1", "address.line1", max_length=200, direction="both", conflict="newest_wins"),
                Field("address_line2", "address.line2", max_length=200, direction="both", conflict="newest_wins"),
                Field("city", "address.city", max_length=100, direction="both", conflict="newest_wins"),
                Field("state", "address.state", max_length=100, direction="both", conflict="newest_wins"),
                Field("postal_code", "address.postal_code", max_length=20, direction="both",
                      conflict="newest_wins"),
                Field("country", "address.country", max_length=2, direction="both", conflict="newest_wins"),
                # A Stripe customer's currency is set by its first invoice; keep the catalog's in metadata.
                Field("currency", "metadata.currency", choices=CURRENCIES, transform=str.lower),
            ]),
        ],
        "salesforce": [
            # Lengths are Salesforce's: Account.Name 255; Contact LastName 80, FirstName 40, Email 80.
            # Two-way, like Stripe: sales edits an Account's phone and billing address and a Contact's email and
            # phone every day; those come back field by field, a field both sides changed newest-wins
            # (SystemModstamp against `updated_at`). Names stay billing's. An
            # Account created in Salesforce by hand becomes a catalog customer (its name too) and gets the new id in
            # Zenskar_Id__c at once; a record deleted there is unlinked and re-created by the next outbound run.
            # Writes by zensync's own integration user are echoes. Invoice__c is outbound only.
            ExternalObject("Account", external_id_field=ZENSKAR_ID,
                           inbound=Inbound(on_delete=RECREATE, create_rows=True), fields=[
                Field("name", "Name", required=True, max_length=255),
                Field("phone", "Phone", max_length=40, direction="both", conflict="newest_wins"),
                Field("address_line1", "BillingStreet", max_length=255, direction="both", conflict="newest_wins"),
                Field("city", "BillingCity", max_length=40, direction="both", conflict="newest_wins"),
                Field("state", "BillingState", max_length=80, direction="both", conflict="newest_wins"),
                Field("postal_code", "BillingPostalCode", max_length=20, direction="both", conflict="newest_wins"),
                Field("country", "BillingCountry", max_length=80, direction="both", conflict="newest_wins"),
            ]),
            ExternalObject("Contact", external_id_field=ZENSKAR_ID, after="Account",
                           inbound=Inbound(on_delete=RECREATE), fields=[
                Field("name", "LastName", required=True, max_length=80, transform=last_name),
                Field("name", "FirstName", max_length=40, transform=first_name),
                Field("email", "Email", type="email", max_length=80, direction="both", conflict="newest_wins"),
                # Two-way like the Account's: each object's mapping keeps the Phone it last synced (its base), so a
                # Contact's email edit carries no phone change, and a phone edited on either object reaches the
                # other through the catalog's one column, once (engine/merge.py).
                Field("phone", "Phone", max_length=40, direction="both", conflict="newest_wins"),
                Field("id", "Account", type="object", required=True, transform=account_lookup),
            ]),
        ],
    },
)
