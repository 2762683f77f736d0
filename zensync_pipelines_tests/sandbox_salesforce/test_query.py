"""SOQL through sf.query / sf.query_all: filters, ordering, relationship fields, pagination, queryAll."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from .conftest import accounts


@pytest.fixture
def org(sf):
    sf.Account.create({"Name": "Acme", "Zenskar_Id__c": "1", "BillingCity": "Pune"})
    sf.Account.create({"Name": "Beta", "Zenskar_Id__c": "2", "BillingCity": "Delhi"})
    sf.Account.create({"Name": "gamma", "Zenskar_Id__c": "3"})
    sf.Contact.create({"LastName": "Rao", "Email": "rao@acme.test", "Account": {"Zenskar_Id__c": "1"}})
    sf.Contact.create({"LastName": "Orphan"})
    sf.Invoice__c.create({"Name": "I1", "Amount__c": 100, "Issued_Date__c": "2026-01-05", "Status__c": "open",
                          "Account__r": {"Zenskar_Id__c": "2"}})
    sf.Invoice__c.create({"Name": "I2", "Amount__c": 250.5, "Issued_Date__c": "2026-02-01", "Status__c": "paid"})
    return sf


def names(result):
    return [r["Name"] for r in result["records"]]


@pytest.mark.parametrize("where, expected", [
    ("Name = 'acme'", ["Acme"]),  # text comparison is case-insensitive in SOQL
    ("Name != 'Acme'", ["Beta", "gamma"]),
    ("BillingCity = null", ["gamma"]),
    ("BillingCity != null AND Name LIKE 'B%'", ["Beta"]),
    ("Zenskar_Id__c IN ('1', '3')", ["Acme", "gamma"]),
    ("Zenskar_Id__c NOT IN ('1', '3')", ["Beta"]),
    ("(Name = 'Acme' OR Name = 'Beta') AND NOT BillingCity = 'Pune'", ["Beta"]),
    ("Name > 'B'", ["Beta", "gamma"]),
])
def test_where_clauses(org, where, expected):
    assert names(org.query(f"SELECT Name FROM Account WHERE {where} ORDER BY Name")) == expected


def test_numbers_dates_and_datetimes(org):
    assert names(org.query("SELECT Name FROM Invoice__c WHERE Amount__c >= 200")) == ["I2"]
    assert names(org.query("SELECT Name FROM Invoice__c WHERE Issued_Date__c < 2026-01-31")) == ["I1"]
    assert len(org.query("SELECT Id FROM Account WHERE CreatedDate > 2020-01-01T00:00:00Z")["records"]) == 3
    assert org.query("SELECT Id FROM Account WHERE CreatedDate < 2020-01-01T00:00:00.000+0000")["records"] == []


def test_order_by_nulls_limit_offset_and_count(org):
    ordered = org.query("SELECT Name, BillingCity FROM Account ORDER BY BillingCity DESC NULLS FIRST")
    assert names(ordered) == ["gamma", "Acme", "Beta"]
    assert names(org.query("SELECT Name FROM Account ORDER BY BillingCity")) == ["gamma", "Beta", "Acme"]
    assert names(org.query("SELECT Name FROM Account ORDER BY Name DESC LIMIT 2 OFFSET 1")) == ["Beta", "Acme"]
    assert org.query("SELECT COUNT() FROM Account WHERE Name LIKE '%a'") == {"totalSize": 2, "done": True,
                                                                            "records": []}


def test_relationship_fields(org):
    result = org.query("SELECT LastName, Account.Zenskar_Id__c, Account.Name FROM Contact ORDER BY LastName")
    orphan, rao = result["records"]
    assert orphan["Account"] is None
    assert rao["Account"]["Zenskar_Id__c"] == "1" and rao["Account"]["Name"] == "Acme"
    assert rao["Account"]["attributes"]["type"] == "Account"
    invoices = org.query("SELECT Name FROM Invoice__c WHERE Account__r.Zenskar_Id__c = '2'")
    assert names(invoices) == ["I1"]


@pytest.mark.parametrize("soql, code", [
    ("SELECT Name FROM Account WHERE", "MALFORMED_QUERY"),
    ("SELECT FROM Account", "MALFORMED_QUERY"),
    ("SELECT Name FROM Account LIMIT x", "MALFORMED_QUERY"),
    ("SELECT Nope FROM Account", "INVALID_FIELD"),
    ("SELECT Name FROM Account WHERE Owner.Name = 'x'", "INVALID_FIELD"),
    ("SELECT Name FROM Nope__c", "INVALID_TYPE"),
])
def test_bad_queries(sf, soql, code):
    with pytest.raises(SalesforceMalformedRequest) as failure:
        sf.query(soql)
    assert failure.value.content[0]["errorCode"] == code


def test_query_all_pages_with_a_small_batch_size(sf):
    for start in range(0, 450, 200):
        chunk = accounts(450)[start:start + 200]
        sf.restful("composite/sobjects", method="POST", json={"records": chunk})
    headers = {"Sforce-Query-Options": "batchSize=200"}
    first = sf.query("SELECT Zenskar_Id__c FROM Account", headers=headers)
    assert first["totalSize"] == 450 and first["done"] is False and len(first["records"]) == 200
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/01g")
    assert first["nextRecordsUrl"].endswith("-200")
    everything = sf.query_all("SELECT Zenskar_Id__c FROM Account", headers=headers)
    assert sorted(r["Zenskar_Id__c"] for r in everything["records"]) == sorted(f"z{i}" for i in range(450))


def test_default_batch_is_2000(sf):
    sf.bulk2.Account.insert(records=[{"Name": f"A{i}"} for i in range(2100)], wait=0)
    first = sf.query("SELECT Id FROM Account")
    assert len(first["records"]) == 2000 and first["nextRecordsUrl"].endswith("-2000")
    assert len(sf.query_all("SELECT Id FROM Account")["records"]) == 2100


def test_query_all_includes_deleted_records(sf):
    keep = sf.Account.create({"Name": "Keep"})["id"]
    gone = sf.Account.create({"Name": "Gone"})["id"]
    sf.Account.delete(gone)
    assert [r["Id"] for r in sf.query("SELECT Id FROM Account")["records"]] == [keep]
    deleted = sf.query_all("SELECT Id, IsDeleted FROM Account WHERE IsDeleted = true", include_deleted=True)
    assert [(r["Id"], r["IsDeleted"]) for r in deleted["records"]] == [(gone, True)]
