"""The other way Salesforce links an Invoice__c to its Account: by the customer's external id through the
relationship name (`Account__r`), which a spec may use instead of the mapped Account Id the shipped one sets."""

import pytest
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceMalformedRequest

from zensync_pipelines.sandbox.salesforce import SalesforceSandbox


@pytest.fixture
def sf():
    with SalesforceSandbox() as sandbox:
        yield Salesforce(instance_url=sandbox.instance_url, session_id=sandbox.new_session(),
                         session=sandbox.requests_session())


def test_an_invoice_finds_its_account_by_the_customers_external_id(sf):
    account = sf.Account.create({"Name": "Hopper Labs", "Zenskar_Id__c": "12"})["id"]
    status = sf.Invoice__c.upsert("Zenskar_Id__c/7", {
        "Name": "INV-2025-00007", "Account__r": {"Zenskar_Id__c": "12"}, "Amount__c": 123.45,
        "Currency__c": "usd", "Status__c": "issued", "Issued_Date__c": "2025-03-01", "Due_Date__c": "2025-03-31"})
    assert status == 201
    invoice = sf.Invoice__c.get_by_custom_id("Zenskar_Id__c", "7")
    assert invoice["Account__c"] == account and invoice["Amount__c"] == 123.45


def test_a_lookup_to_a_customer_not_yet_in_salesforce_is_refused_per_record(sf):
    with pytest.raises(SalesforceMalformedRequest) as error:
        sf.Invoice__c.upsert("Zenskar_Id__c/8", {"Name": "INV-8", "Account__r": {"Zenskar_Id__c": "404"}})
    assert "Foreign key external ID: 404 not found" in str(error.value.content)
    with pytest.raises(SalesforceMalformedRequest):  # the lookup goes through the relationship, not the field
        sf.Invoice__c.upsert("Zenskar_Id__c/9", {"Name": "INV-9", "Account__c": {"Zenskar_Id__c": "12"}})
