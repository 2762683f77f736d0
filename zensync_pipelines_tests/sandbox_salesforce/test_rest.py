"""sObject REST through simple-salesforce: CRUD, upsert by external id, lookups, validation and describe."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import (
    SalesforceMalformedRequest,
    SalesforceMoreThanOneRecord,
    SalesforceResourceNotFound,
)

from zensync_pipelines.sandbox.salesforce import SalesforceSandbox

from .conftest import client


def test_crud_round_trip_with_salesforce_ids_and_system_fields(sf):
    created = sf.Account.create({"Name": "Acme", "BillingCity": "Pune", "Zenskar_Id__c": "42"})
    assert created["success"] is True and created["errors"] == []
    record_id = created["id"]
    assert len(record_id) == 18 and record_id.startswith("001")
    record = sf.Account.get(record_id)
    assert record["Name"] == "Acme" and record["BillingCity"] == "Pune" and record["IsDeleted"] is False
    assert record["attributes"] == {"type": "Account", "url": f"/services/data/v59.0/sobjects/Account/{record_id}"}
    assert record["CreatedDate"].endswith("+0000")
    assert sf.Account.update(record_id, {"Phone": "+91 1"}) == 204
    assert sf.Account.get(record_id)["Phone"] == "+91 1"
    assert sf.Account.get_by_custom_id("Zenskar_Id__c", "42")["Id"] == record_id
    assert sf.Account.delete(record_id) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get(record_id)


def test_fifteen_char_ids_are_accepted(sf):
    record_id = sf.Account.create({"Name": "Acme"})["id"]
    assert sf.Account.get(record_id[:15])["Id"] == record_id


def test_upsert_creates_then_updates(sf):
    created = sf.Account.upsert("Zenskar_Id__c/42", {"Name": "Acme"}, raw_response=True)
    assert created.status_code == 201 and created.json()["created"] is True
    updated = sf.Account.upsert("Zenskar_Id__c/42", {"Name": "Acme Ltd"}, raw_response=True)
    assert updated.status_code == 200
    assert updated.json() == {"id": created.json()["id"], "success": True, "errors": [], "created": False}
    assert sf.query("SELECT Name FROM Account")["records"][0]["Name"] == "Acme Ltd"


def test_upsert_on_an_unknown_field_is_404(sf):
    with pytest.raises(SalesforceResourceNotFound) as missing:
        sf.Account.upsert("Nope__c/1", {"Name": "Acme"})
    assert missing.value.content[0]["errorCode"] == "NOT_FOUND"


def test_several_matches_answer_300(schema_with_legacy_id):
    with SalesforceSandbox(schema_file=schema_with_legacy_id) as sb:
        sf = client(sb)
        first = sf.Account.create({"Name": "A", "Legacy_Id__c": "L1"})["id"]
        second = sf.Account.create({"Name": "B", "Legacy_Id__c": "L1"})["id"]
        with pytest.raises(SalesforceMoreThanOneRecord) as several:
            sf.Account.upsert("Legacy_Id__c/L1", {"Name": "C"})
        assert several.value.status == 300
        assert sorted(url.rsplit("/", 1)[-1] for url in several.value.content) == sorted([first, second])


def test_lookup_by_parent_external_id(sf):
    account_id = sf.Account.create({"Name": "Acme", "Zenskar_Id__c": "42"})["id"]
    contact = sf.Contact.create({"LastName": "Rao", "Account": {"Zenskar_Id__c": "42"}})
    assert sf.Contact.get(contact["id"])["AccountId"] == account_id
    invoice = sf.Invoice__c.create({"Name": "INV-1", "Account__r": {"Zenskar_Id__c": "42"}, "Amount__c": 12.5})
    assert sf.Invoice__c.get(invoice["id"])["Account__c"] == account_id
    with pytest.raises(SalesforceMalformedRequest) as missing:
        sf.Contact.create({"LastName": "Rao", "Account": {"Zenskar_Id__c": "404"}})
    assert missing.value.content == [{
        "message": "Foreign key external ID: 404 not found for field Zenskar_Id__c in entity Account",
        "errorCode": "INVALID_FIELD", "fields": []}]


@pytest.mark.parametrize("body, code, message, fields", [
    ({"Phone": "1"}, "REQUIRED_FIELD_MISSING", "Required fields are missing: [Name]", ["Name"]),
    ({"Name": "x" * 256}, "STRING_TOO_LONG", f"Name: data value too large: {'x' * 256} (max length=255)", ["Name"]),
    ({"Name": "A", "Foo": 1}, "INVALID_FIELD", "No such column 'Foo' on sobject of type Account", []),
    ({"Name": "A", "CreatedDate": "2020-01-01T00:00:00Z"}, "INVALID_FIELD_FOR_INSERT_UPDATE", None, ["CreatedDate"]),
])
def test_validation_errors_use_salesforce_codes(sf, body, code, message, fields):
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.Account.create(body)
    assert failure.value.status == 400
    [error] = failure.value.content
    assert error["errorCode"] == code and error["fields"] == fields
    if message:
        assert error["message"] == message


def test_contact_lengths_come_from_the_schema(sf):
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.Contact.create({"LastName": "L", "FirstName": "f" * 41, "Email": "not-an-email"})
    codes = {e["errorCode"] for e in failure.value.content}
    assert codes == {"STRING_TOO_LONG", "INVALID_EMAIL_ADDRESS"}  # every problem at once, as Salesforce does


def test_duplicate_external_id_is_refused(sf):
    first = sf.Account.create({"Name": "A", "Zenskar_Id__c": "42"})["id"]
    with pytest.raises(SalesforceMalformedRequest) as duplicate:
        sf.Account.create({"Name": "B", "Zenskar_Id__c": "42"})
    [error] = duplicate.value.content
    assert error["errorCode"] == "DUPLICATE_VALUE" and first in error["message"]
    sf.Account.delete(first)  # a deleted record no longer holds the value
    assert sf.Account.create({"Name": "B", "Zenskar_Id__c": "42"})["success"]


def test_unknown_objects_and_records(sf):
    with pytest.raises(SalesforceResourceNotFound):
        sf.Nope__c.create({"Name": "x"})
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.update("001000000000000AAA", {"Name": "x"})


def test_describe(sf):
    names = {o["name"]: o for o in sf.describe()["sobjects"]}
    assert names["Invoice__c"]["keyPrefix"] == "a01" and names["Invoice__c"]["custom"] is True
    fields = {f["name"]: f for f in sf.Contact.describe()["fields"]}
    assert fields["LastName"]["length"] == 80 and fields["LastName"]["nillable"] is False
    assert fields["AccountId"]["referenceTo"] == ["Account"] and fields["AccountId"]["relationshipName"] == "Account"
    assert fields["Zenskar_Id__c"]["externalId"] is True and fields["Zenskar_Id__c"]["unique"] is True
    assert {"Id", "CreatedDate", "LastModifiedDate", "SystemModstamp", "IsDeleted"} <= set(fields)
    invoice = {f["name"]: f for f in sf.Invoice__c.describe()["fields"]}
    assert invoice["Amount__c"]["type"] == "currency" and invoice["Due_Date__c"]["type"] == "date"
