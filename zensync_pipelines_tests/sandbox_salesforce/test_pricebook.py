"""Price books as Salesforce documents them, through simple-salesforce: the standard price book, one entry per
product, price book and currency, the standard price before any other, UseStandardPrice, create-only fields,
multi-currency and single-currency orgs."""

from __future__ import annotations

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from zensync_pipelines.sandbox.salesforce import SalesforceSandbox

from .conftest import client


def _standard(sf) -> str:
    found = sf.query("SELECT Id, Name, IsActive FROM Pricebook2 WHERE IsStandard = true")
    assert found["totalSize"] == 1
    assert found["records"][0]["Name"] == "Standard Price Book" and found["records"][0]["IsActive"] is True
    return found["records"][0]["Id"]


def _product(sf, name: str = "Pro") -> str:
    return sf.Product2.create({"Name": name, "ProductCode": f"PLAN-{name}"})["id"]


def _code(error: SalesforceMalformedRequest) -> str:
    return error.content[0]["errorCode"]


def test_every_org_has_one_standard_price_book_it_cannot_delete_or_create(sb: SalesforceSandbox, sf) -> None:
    standard = _standard(sf)
    with pytest.raises(SalesforceMalformedRequest) as refused:
        sf.Pricebook2.delete(standard)
    assert _code(refused.value) == "DELETE_FAILED"
    with pytest.raises(SalesforceMalformedRequest) as read_only:
        sf.Pricebook2.create({"Name": "Mine", "IsStandard": True})
    assert _code(read_only.value) == "INVALID_FIELD_FOR_INSERT_UPDATE"
    custom = sf.Pricebook2.create({"Name": "Yearly", "IsActive": True})["id"]
    assert sf.Pricebook2.get(custom)["IsStandard"] is False
    other = _org_client(sb, sb.add_org("Other"))
    assert _standard(other) != standard  # each org has its own


def test_an_entry_mirrors_its_product_and_takes_the_corporate_currency_by_default(sf) -> None:
    product = _product(sf)
    entry = sf.PricebookEntry.create({"Pricebook2Id": _standard(sf), "Product2Id": product, "UnitPrice": 49.5,
                                      "IsActive": True})["id"]
    record = sf.PricebookEntry.get(entry)
    assert (record["Name"], record["ProductCode"], record["CurrencyIsoCode"]) == ("Pro", "PLAN-Pro", "USD")
    assert record["UnitPrice"] == 49.5 and record["IsActive"] is True and record["UseStandardPrice"] is False
    assert entry.startswith("01u")


def test_one_entry_per_product_price_book_and_currency(sf) -> None:
    standard, product = _standard(sf), _product(sf)
    sf.PricebookEntry.create({"Pricebook2Id": standard, "Product2Id": product, "UnitPrice": 10,
                              "CurrencyIsoCode": "EUR"})
    with pytest.raises(SalesforceMalformedRequest) as duplicate:
        sf.PricebookEntry.create({"Pricebook2Id": standard, "Product2Id": product, "UnitPrice": 12,
                                  "CurrencyIsoCode": "EUR"})
    assert _code(duplicate.value) == "DUPLICATE_VALUE"
    assert "already exists in this price book" in duplicate.value.content[0]["message"]
    sf.PricebookEntry.create({"Pricebook2Id": standard, "Product2Id": product, "UnitPrice": 9,
                              "CurrencyIsoCode": "GBP"})  # another currency is another price
    assert sf.query(f"SELECT COUNT() FROM PricebookEntry WHERE Product2Id = '{product}'")["totalSize"] == 2


def test_the_standard_price_comes_before_any_other_price_books(sf) -> None:
    standard, product = _standard(sf), _product(sf)
    yearly = sf.Pricebook2.create({"Name": "Yearly", "IsActive": True})["id"]
    with pytest.raises(SalesforceMalformedRequest) as early:
        sf.PricebookEntry.create({"Pricebook2Id": yearly, "Product2Id": product, "UnitPrice": 100})
    assert _code(early.value) == "STANDARD_PRICE_NOT_DEFINED"
    assert early.value.content[0]["message"] == "No standard price defined for this product"
    first = sf.PricebookEntry.create({"Pricebook2Id": standard, "Product2Id": product, "UnitPrice": 10})["id"]
    with pytest.raises(SalesforceMalformedRequest) as other_currency:  # a standard price is per currency
        sf.PricebookEntry.create({"Pricebook2Id": yearly, "Product2Id": product, "UnitPrice": 90,
                                  "CurrencyIsoCode": "EUR"})
    assert _code(other_currency.value) == "STANDARD_PRICE_NOT_DEFINED"
    custom = sf.PricebookEntry.create({"Pricebook2Id": yearly, "Product2Id": product, "UnitPrice": 100})["id"]
    with pytest.raises(SalesforceMalformedRequest) as in_use:
        sf.PricebookEntry.delete(first)
    assert _code(in_use.value) == "DELETE_FAILED"
    sf.PricebookEntry.delete(custom)
    assert sf.PricebookEntry.delete(first) == 204


def test_use_standard_price_follows_the_standard_entry(sf) -> None:
    standard, product = _standard(sf), _product(sf)
    book = sf.Pricebook2.create({"Name": "Partners", "IsActive": True})["id"]
    with pytest.raises(SalesforceMalformedRequest) as standard_uses_itself:
        sf.PricebookEntry.create({"Pricebook2Id": standard, "Product2Id": product, "UnitPrice": 10,
                                  "UseStandardPrice": True})
    assert _code(standard_uses_itself.value) == "FIELD_INTEGRITY_EXCEPTION"
    first = sf.PricebookEntry.create({"Pricebook2Id": standard, "Product2Id": product, "UnitPrice": 10})["id"]
    with pytest.raises(SalesforceMalformedRequest) as own_price:
        sf.PricebookEntry.create({"Pricebook2Id": book, "Product2Id": product, "UnitPrice": 8,
                                  "UseStandardPrice": True})
    assert _code(own_price.value) == "FIELD_INTEGRITY_EXCEPTION"
    follower = sf.PricebookEntry.create({"Pricebook2Id": book, "Product2Id": product, "UseStandardPrice": True})
    assert sf.PricebookEntry.get(follower["id"])["UnitPrice"] == 10
    sf.PricebookEntry.update(first, {"UnitPrice": 12.5})
    assert sf.PricebookEntry.get(follower["id"])["UnitPrice"] == 12.5
    with pytest.raises(SalesforceMalformedRequest) as no_price:
        sf.PricebookEntry.create({"Pricebook2Id": standard, "Product2Id": _product(sf, "Other")})
    assert _code(no_price.value) == "REQUIRED_FIELD_MISSING"


def test_product_price_book_and_currency_are_set_on_create_only(sf) -> None:
    standard, product = _standard(sf), _product(sf)
    entry = sf.PricebookEntry.upsert("Zenskar_Id__c/7:monthly", {"Pricebook2Id": standard, "Product2Id": product,
                                                                 "UnitPrice": 10, "CurrencyIsoCode": "EUR"})
    assert entry == 201
    for field, value in (("Product2Id", _product(sf, "Other")), ("CurrencyIsoCode", "GBP"),
                         ("Pricebook2Id", standard)):
        with pytest.raises(SalesforceMalformedRequest) as refused:
            sf.PricebookEntry.upsert("Zenskar_Id__c/7:monthly", {field: value, "UnitPrice": 11})
        assert _code(refused.value) == "INVALID_FIELD_FOR_INSERT_UPDATE"
        assert refused.value.content[0]["fields"] == [field]
    assert sf.PricebookEntry.upsert("Zenskar_Id__c/7:monthly", {"UnitPrice": 11, "IsActive": False}) in (200, 204)
    record = sf.PricebookEntry.get_by_custom_id("Zenskar_Id__c", "7:monthly")
    assert (record["UnitPrice"], record["IsActive"], record["CurrencyIsoCode"]) == (11, False, "EUR")
    with pytest.raises(SalesforceMalformedRequest) as read_only:
        sf.PricebookEntry.update(record["Id"], {"Name": "Renamed"})
    assert _code(read_only.value) == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_an_org_is_born_set_up_for_zensyncs_price_books(sf) -> None:
    """How zensync points an entry at a price book without knowing its Id: the Pricebook2's Zenskar_Id__c, set
    on the standard price book and on a yearly one, as docs/salesforce.md asks of a real org."""
    books = sf.query("SELECT Id, Name, IsActive, IsStandard FROM Pricebook2 WHERE Zenskar_Id__c != null")["records"]
    assert sorted((b["Name"], b["IsActive"], b["IsStandard"]) for b in books) == [
        ("Standard Price Book", True, True), ("Yearly", True, False)]
    product = _product(sf)
    standard = sf.PricebookEntry.create({"Pricebook2": {"Zenskar_Id__c": "standard"}, "Product2Id": product,
                                         "UnitPrice": 5})
    yearly = sf.PricebookEntry.create({"Pricebook2": {"Zenskar_Id__c": "yearly"}, "Product2Id": product,
                                       "UnitPrice": 50})
    assert sf.PricebookEntry.get(standard["id"])["Pricebook2Id"] == _standard(sf)
    assert sf.PricebookEntry.get(yearly["id"])["Pricebook2Id"] != _standard(sf)


def _org_client(sb: SalesforceSandbox, org) -> Salesforce:
    return Salesforce(instance_url=sb.instance_url, session_id=sb.new_session(org.integration_user),
                      session=sb.requests_session())


def test_currency_is_a_restricted_picklist_of_the_orgs_active_currencies(sf) -> None:
    standard, product = _standard(sf), _product(sf)
    with pytest.raises(SalesforceMalformedRequest) as unknown:
        sf.PricebookEntry.create({"Pricebook2Id": standard, "Product2Id": product, "UnitPrice": 1,
                                  "CurrencyIsoCode": "XYZ"})
    assert _code(unknown.value) == "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST"


def test_a_single_currency_org_has_no_currency_field(sb: SalesforceSandbox) -> None:
    created = sb.requests_session().post(f"{sb.url}/_sandbox/orgs", json={"name": "Solo", "currencies": ["eur"]})
    assert created.status_code == 200 and created.json()["currencies"] == ["EUR"]
    assert sb.org().describe()["currencies"][0] == "USD"  # the first org: multi-currency, USD corporate
    solo = _org_client(sb, sb.org(created.json()["organization_id"]))
    standard, product = _standard(solo), _product(solo)
    with pytest.raises(SalesforceMalformedRequest) as no_column:
        solo.PricebookEntry.create({"Pricebook2Id": standard, "Product2Id": product, "UnitPrice": 3,
                                    "CurrencyIsoCode": "EUR"})
    assert _code(no_column.value) == "INVALID_FIELD"
    entry = solo.PricebookEntry.create({"Pricebook2Id": standard, "Product2Id": product, "UnitPrice": 3})
    assert solo.PricebookEntry.get(entry["id"])["UnitPrice"] == 3
    bad = sb.requests_session().post(f"{sb.url}/_sandbox/orgs", json={"name": "Bad", "currencies": ["euro"]})
    assert bad.status_code == 400 and "ISO codes" in bad.json()["error"]


def test_price_books_survive_a_restart(tmp_path) -> None:
    with SalesforceSandbox(data_file=str(tmp_path / "org.json")) as first:
        sf = client(first)
        standard = _standard(sf)
        sf.PricebookEntry.create({"Pricebook2Id": standard, "Product2Id": _product(sf), "UnitPrice": 4})
    with SalesforceSandbox(data_file=str(tmp_path / "org.json")) as second:
        sf = client(second)
        assert _standard(sf) == standard  # the same one, not a second standard price book
        assert sf.query("SELECT COUNT() FROM PricebookEntry")["totalSize"] == 1
