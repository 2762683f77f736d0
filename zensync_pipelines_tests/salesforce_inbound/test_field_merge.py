"""Field-level merge with Salesforce (simple-salesforce over HTTPS to the sandbox, both databases): an Account
phone edited in Salesforce and an email edited in the catalog both survive in either order of runs; Contact Phone
is two-way and one catalog column feeds both objects' phones without flip-flop; updates send only the changed
fields, through Collections and through one Bulk 2.0 job whose rows leave unsent fields empty."""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import update

from zensync_pipelines.demo.tables import customers
from zensync_pipelines_tests.salesforce.conftest import resource_for, run_engine, soql

from .test_inbound_customers import inbound, linked, poll, row, synced


def edit(engine, internal_id, **values) -> None:
    values.setdefault("updated_at", dt.datetime.now(dt.timezone.utc))
    with engine.begin() as connection:
        connection.execute(update(customers).where(customers.c.id == int(internal_id)).values(**values))


def settle(sb, engine) -> None:
    """Two idle rounds: nothing is written anywhere (no flip-flop)."""
    for _ in range(2):
        poll(sb, engine)
        report = inbound(sb, engine)
        assert (report.applied, report.failed) == (0, 0)
        assert run_engine(engine, resource_for(sb).adapter()).api_calls == 0


def record(sb, object_type: str, internal_id: str, fields: str) -> dict:
    [found] = soql(sb, f"SELECT {fields} FROM {object_type} WHERE Zenskar_Id__c = '{internal_id}'")
    return found


@pytest.mark.parametrize("outbound_first", [True, False], ids=["outbound first", "inbound first"])
def test_an_account_phone_edit_and_a_catalog_email_edit_both_survive(sb, sales, database_url, outbound_first):
    engine = synced(sb, database_url, 2)
    account = linked(engine, "Account")["1"]["external_id"]
    edit(engine, "1", email="catalog.one@example.com")
    sales.Account.update(account, {"Phone": "+1 555 0142"})
    poll(sb, engine)
    if outbound_first:
        assert run_engine(engine, resource_for(sb).adapter()).updated == 1  # the Contact's Email alone
        assert record(sb, "Account", "1", "Phone")["Phone"] == "+1 555 0142"
        poll(sb, engine)
        assert inbound(sb, engine).applied == 1
    else:
        assert inbound(sb, engine).applied == 1
        assert row(engine, "1")["email"] == "catalog.one@example.com"
    assert row(engine, "1")["phone"] == "+1 555 0142"
    # The catalog's new phone reaches the Contact (which mirrors it), its email went or goes out once.
    run_engine(engine, resource_for(sb).adapter())
    assert record(sb, "Contact", "1", "Email, Phone") | {"attributes": None} == \
        {"Email": "catalog.one@example.com", "Phone": "+1 555 0142", "attributes": None}
    settle(sb, engine)
    assert record(sb, "Account", "1", "Phone")["Phone"] == "+1 555 0142"


def test_a_contact_phone_edit_reaches_the_account_through_the_catalog_once(sb, sales, database_url):
    engine = synced(sb, database_url, 2)
    contact = linked(engine, "Contact")["2"]["external_id"]
    sales.Contact.update(contact, {"Phone": "+44 20 7946 0000"})
    poll(sb, engine)
    assert inbound(sb, engine).applied == 1
    assert row(engine, "2")["phone"] == "+44 20 7946 0000"
    sent = run_engine(engine, resource_for(sb).adapter())
    assert (sent.updated, sent.failed) == (1, 0)  # the Account only: the Contact already holds it
    assert record(sb, "Account", "2", "Phone")["Phone"] == "+44 20 7946 0000"
    settle(sb, engine)
    assert record(sb, "Contact", "2", "Phone")["Phone"] == "+44 20 7946 0000"


def test_a_bulk_job_of_partial_updates_writes_no_unchanged_field(sb, sales, database_url):
    engine = synced(sb, database_url, 4)
    accounts = linked(engine, "Account")
    # Salesforce users edit a city on two Accounts; the catalog edits phone and city of other rows.
    sales.Account.update(accounts["1"]["external_id"], {"BillingCity": "Lyon"})
    sales.Account.update(accounts["2"]["external_id"], {"BillingCity": "Nantes"})
    edit(engine, "1", phone="+1 555 0001")
    edit(engine, "2", phone="+1 555 0002")
    edit(engine, "3", city="Porto")
    bulk = resource_for(sb, bulk_threshold=1).adapter()  # every batch of more than one record is a Bulk job
    report = run_engine(engine, bulk)
    assert report.failed == 0
    # Row 3's city went out; rows 1 and 2 sent their phones only, so the sales edits of their cities stand.
    assert record(sb, "Account", "1", "Phone, BillingCity") | {"attributes": None} == \
        {"Phone": "+1 555 0001", "BillingCity": "Lyon", "attributes": None}
    assert record(sb, "Account", "2", "BillingCity")["BillingCity"] == "Nantes"
    assert record(sb, "Account", "3", "BillingCity")["BillingCity"] == "Porto"
    poll(sb, engine)
    assert inbound(sb, engine).failed == 0
    assert (row(engine, "1")["city"], row(engine, "2")["city"], row(engine, "3")["city"]) == \
        ("Lyon", "Nantes", "Porto")
