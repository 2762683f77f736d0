"""The `contacts` catalog of issue 30, as a test fixture (not a shipped catalog): a customer's extra contacts, as
Salesforce Contacts on the customer's Account. The customers catalog already writes one Contact per customer, upserted
on Zenskar_Id__c; the obvious spec upserts on that same field and would land on the customers' Contacts."""

import json
from pathlib import Path

from sqlalchemy import Column, DateTime, Integer, MetaData, String, Table

from zensync_pipelines.catalogs.customers import first_name, last_name
from zensync_pipelines.engine.spec import UNLINK, CatalogSpec, ExternalObject, Field, Inbound, Reference
from zensync_pipelines.sandbox.salesforce.schema import DEFAULT_SCHEMA

OWN_FIELD = "Zenskar_Contact_Id__c"

contacts = Table(
    "contacts", MetaData(),
    Column("id", Integer, primary_key=True), Column("customer_id", Integer, nullable=False),
    Column("name", String(200)), Column("email", String(200)),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False), Column("deleted_at", DateTime(timezone=True)))


def contacts_spec(external_id_field: str, two_way: bool = False, on_delete: str = UNLINK) -> CatalogSpec:
    """`two_way`: the email comes back too (the inbound path then reads this catalog's tag from its own field);
    `on_delete`: what a Contact deleted in Salesforce does to its row (engine/spec.py's Inbound)."""
    email = {"direction": "both", "conflict": "newest_wins"} if two_way else {}
    return CatalogSpec(
        name="contacts", description="A customer's extra contacts (table `contacts`).", table="contacts",
        primary_key="id", cursor_column="updated_at", created_at_column="created_at", soft_delete_column="deleted_at",
        partition_start="2025-01-01",
        systems={"salesforce": [ExternalObject("Contact", external_id_field=external_id_field,
                                               inbound=Inbound(on_delete=on_delete) if two_way else None, fields=[
            Field("name", "LastName", required=True, max_length=80, transform=last_name),
            Field("name", "FirstName", max_length=40, transform=first_name),
            Field("email", "Email", type="email", max_length=80, **email),
            Field("customer_id", "AccountId", required=True,
                  references=Reference("customers", "Account", label="customer")),
        ])]})


def schema_with_own_field(folder: Path) -> str:
    """The sandbox's packaged schema plus the External ID field an admin adds to Contact for this catalog."""
    schema = json.loads(Path(DEFAULT_SCHEMA).read_text())
    schema["Contact"]["fields"][OWN_FIELD] = {"type": "string", "length": 255, "externalId": True, "unique": True}
    path = folder / "schema.json"
    path.write_text(json.dumps(schema))
    return str(path)
