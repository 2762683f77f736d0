"""sObject Collections and Composite through sf.restful, as the adapter will call them."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceResourceNotFound

from .conftest import accounts

UPSERT = "composite/sobjects/Account/Zenskar_Id__c"


def test_upsert_reports_per_record_results_in_request_order(sf):
    sf.Account.create({"Name": "Old", "Zenskar_Id__c": "z1"})
    records = accounts(3)
    records[2]["Name"] = None  # fails REQUIRED_FIELD_MISSING; the others still commit
    results = sf.restful(UPSERT, method="PATCH", json={"allOrNone": False, "records": records})
    assert [r["success"] for r in results] == [True, True, False]
    assert [r.get("created") for r in results[:2]] == [True, False]
    assert results[2]["errors"] == [{"statusCode": "REQUIRED_FIELD_MISSING",
                                     "message": "Required fields are missing: [Name]", "fields": ["Name"]}]
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 2


def test_all_or_none_rolls_everything_back(sf):
    existing = sf.Account.create({"Name": "Before", "Zenskar_Id__c": "z0"})["id"]
    records = accounts(3)
    records[1]["Name"] = "x" * 300
    results = sf.restful(UPSERT, method="PATCH", json={"allOrNone": True, "records": records})
    assert [e["statusCode"] for r in results for e in r["errors"]] == [
        "ALL_OR_NONE_OPERATION_ROLLED_BACK", "STRING_TOO_LONG", "ALL_OR_NONE_OPERATION_ROLLED_BACK"]
    assert results[0].get("id") is None  # the update of z0 was undone too, and no new record exists
    assert sf.Account.get(existing)["Name"] == "Before"
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 1


def test_create_update_delete_collections(sf):
    created = sf.restful("composite/sobjects", method="POST", json={"records": [
        {"attributes": {"type": "Account"}, "Name": "A", "Zenskar_Id__c": "1"},
        {"attributes": {"type": "Contact"}, "LastName": "C", "Account": {"Zenskar_Id__c": "1"}},
        {"attributes": {"type": "Account"}, "Name": "Dup", "Zenskar_Id__c": "1"},
    ]})
    assert [r["success"] for r in created] == [True, True, False]
    assert created[2]["errors"][0]["statusCode"] == "DUPLICATE_VALUE"
    account_id, contact_id = created[0]["id"], created[1]["id"]
    updated = sf.restful("composite/sobjects", method="PATCH", json={"records": [
        {"attributes": {"type": "Account"}, "Id": account_id, "Phone": "5"},
        {"attributes": {"type": "Account"}, "Id": "001000000000000AAA", "Phone": "5"},
    ]})
    assert updated[0] == {"id": account_id, "success": True, "errors": []}
    assert updated[1]["success"] is False and updated[1]["id"] == "001000000000000AAA"
    deleted = sf.restful("composite/sobjects", method="DELETE", params={"ids": f"{contact_id},{account_id}"})
    assert [r["success"] for r in deleted] == [True, True]
    again = sf.restful("composite/sobjects", method="DELETE", params={"ids": account_id})
    assert again[0]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"


def test_limits_of_a_collection(sf):
    with pytest.raises(SalesforceMalformedRequest) as too_many:
        sf.restful(UPSERT, method="PATCH", json={"records": accounts(201)})
    assert too_many.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"
    with pytest.raises(SalesforceResourceNotFound):
        sf.restful("composite/sobjects/Account/Nope__c", method="PATCH", json={"records": accounts(1)})
    results = sf.restful(UPSERT, method="PATCH", json={"records": accounts(200)})
    assert len(results) == 200 and all(r["success"] for r in results)


def test_composite_chains_references(sf):
    reply = sf.restful("composite", method="POST", json={"compositeRequest": [
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Account", "referenceId": "acct",
         "body": {"Name": "Acme"}},
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Contact", "referenceId": "ct",
         "body": {"LastName": "Rao", "AccountId": "@{acct.id}"}},
        {"method": "GET", "url": "/services/data/v59.0/sobjects/Contact/@{ct.id}", "referenceId": "read"},
    ]})["compositeResponse"]
    assert [r["httpStatusCode"] for r in reply] == [201, 201, 200]
    assert reply[2]["body"]["AccountId"] == reply[0]["body"]["id"]


def test_composite_all_or_none(sf):
    reply = sf.restful("composite", method="POST", json={"allOrNone": True, "compositeRequest": [
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Account", "referenceId": "ok", "body": {"Name": "A"}},
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Account", "referenceId": "bad", "body": {}},
        {"method": "POST", "url": "/services/data/v59.0/sobjects/Account", "referenceId": "never",
         "body": {"Name": "C"}},
    ]})["compositeResponse"]
    assert [r["httpStatusCode"] for r in reply] == [400, 400, 400]
    assert reply[1]["body"][0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    assert reply[0]["body"][0]["errorCode"] == reply[2]["body"][0]["errorCode"] == "PROCESSING_HALTED"
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0
    with pytest.raises(SalesforceMalformedRequest):
        sf.restful("composite", method="POST", json={"compositeRequest": [
            {"method": "GET", "url": "/services/data/v59.0/limits", "referenceId": f"r{i}"} for i in range(26)]})
