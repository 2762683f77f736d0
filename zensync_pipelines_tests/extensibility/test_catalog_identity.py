"""Identity per catalog: two catalogs writing one object type of a system through the same external-id field are
refused when the specs load, naming both files and the fix; each with its own field, they load."""

from pathlib import Path

import pytest

from zensync_pipelines.catalogs import load_specs
from zensync_pipelines.engine.spec import CatalogSpec, ExternalObject, Field, SpecError
from zensync_pipelines.systems.identity import check_identities, identity_of

HERE = Path(__file__).parent


def test_the_obvious_contacts_spec_is_refused_naming_both_files_and_the_fix():
    with pytest.raises(SpecError) as refused:
        load_specs("zensync_pipelines_tests.extensibility.catalogs_clash")
    assert str(refused.value) == (
        f"catalog specs 'contacts' ({HERE / 'catalogs_clash' / 'contacts.py'}) and 'customers' "
        f"({HERE / 'catalogs_clash' / 'customers.py'}) both write salesforce Contact objects identified by "
        f"Zenskar_Id__c: their rows with the same id would land on the same Contact, each catalog overwriting the "
        f"other's; give one of them its own external-id field, e.g. external_id_field='Zenskar_Contact_Id__c' (an "
        f"External ID field on Contact in salesforce)")


def test_contacts_with_its_own_field_loads_beside_customers():
    specs = {spec.name: spec for spec in load_specs("zensync_pipelines_tests.extensibility.catalogs_apart")}
    assert identity_of("salesforce", specs["contacts"].objects("salesforce")[0]) == "Zenskar_Contact_Id__c"
    # The shipped catalogs keep today's fields: customers' Contacts stay where they are.
    contact = [obj for obj in specs["customers"].objects("salesforce") if obj.object_type == "Contact"][0]
    assert identity_of("salesforce", contact) == "Zenskar_Id__c"
    assert identity_of("stripe", specs["customers"].objects("stripe")[0]) == "metadata.zenskar_id"


def stripe_object(name: str, object_type: str = "customer", reads: bool = False, **declared) -> CatalogSpec:
    fields = [Field("name", "name", required=True)] + [Field("email", "email", direction="in")] * reads
    obj = ExternalObject(object_type, fields=fields, **declared)
    return CatalogSpec(name=name, table=name, primary_key="id", cursor_column="updated_at",
                       created_at_column="created_at", systems={"stripe": [obj]}, source=f"{name}.py")


def test_two_catalogs_on_stripe_customers_need_a_metadata_key_each():
    with pytest.raises(SpecError) as refused:
        check_identities([stripe_object("customers"), stripe_object("members")])
    assert "'customers' (customers.py) and 'members' (members.py) both write stripe customer objects identified " \
           "by metadata.zenskar_id" in str(refused.value)
    assert str(refused.value).endswith("give one of them its own external-id field, e.g. "
                                       "external_id_field='metadata.zenskar_members_id' (a metadata key of customer)")
    check_identities([stripe_object("customers"), stripe_object("members", external_id_field="metadata.member_id")])
    check_identities([stripe_object("members", external_id_field="metadata.zenskar_id")])  # today's, spelt out


def test_a_stripe_tag_is_a_metadata_key_of_an_object_written_only():
    with pytest.raises(SpecError, match=r"external_id_field='member_id': stripe carries a catalog's tag in "
                                        r"metadata: name a key of it, e.g. 'metadata.zenskar_members_id'"):
        check_identities([stripe_object("members", external_id_field="member_id")])
    # Stripe's webhooks and polls find a row by metadata.zenskar_id: an object read back keeps it.
    with pytest.raises(SpecError, match="stripe's inbound path finds rows by metadata.zenskar_id only"):
        check_identities([stripe_object("members", reads=True, external_id_field="metadata.member_id")])
    # Invoices and subscriptions have handlers of their own, which tag zenskar_id only.
    with pytest.raises(SpecError, match="stripe ties every invoice to its row by metadata.zenskar_id only"):
        check_identities([stripe_object("bills", "invoice", external_id_field="metadata.bill_id")])


def test_one_catalog_may_keep_several_objects_of_a_type_under_one_field():
    plans = {spec.name: spec for spec in load_specs()}["plans"]  # a monthly and a yearly Stripe price per row
    assert [obj.object_type for obj in plans.objects("stripe")].count("price") == 2
    check_identities([plans])  # told apart by their key within the row, not by the catalog
