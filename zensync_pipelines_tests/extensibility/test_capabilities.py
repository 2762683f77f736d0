"""What a system cannot do to an object type is refused when the spec loads, never in a run."""

import dataclasses

import pytest

from zensync_pipelines.catalogs import load_specs
from zensync_pipelines.dagster_defs.factory import build_catalog_definitions
from zensync_pipelines.engine.spec import CatalogSpec, ExternalObject, Field, SpecError
from zensync_pipelines.engine.strategy import Strategy
from zensync_pipelines.systems.registry import check_spec


def spec(object_type, system="stripe", **kwargs):
    return CatalogSpec(name="refunds", table="refunds", primary_key="id", cursor_column="updated_at",
                       created_at_column="created_at", soft_delete_column="deleted_at",
                       systems={system: [ExternalObject(object_type, [Field("amount", "amount", type="integer")])]},
                       **kwargs)


def test_an_object_the_system_cannot_delete_needs_a_strategy_that_never_deletes():
    with pytest.raises(SpecError, match=r"systems\['stripe'\]\['refund'\]: stripe can neither delete nor retire "
                                        r"a refund.*Strategy\(mode='upsert'\)"):
        build_catalog_definitions(spec("refund"))
    check_spec(spec("refund", strategies={"stripe": Strategy(mode="upsert")}))
    check_spec(spec("refund", strategies={"stripe": Strategy(mode="insert_only")}))


def test_retired_objects_pass_and_unknown_ones_do_not():
    check_spec(spec("price"))  # archived (active=false), not deleted
    check_spec(spec("customer"))
    with pytest.raises(SpecError, match="stripe has no object type 'widget'"):
        check_spec(spec("widget"))


def test_the_loader_checks_every_shipped_spec():
    specs = load_specs()
    assert {s.name for s in specs} >= {"customers", "invoices"}
    for loaded in specs:
        check_spec(loaded)
    refused = dataclasses.replace(spec("refund"), source="catalogs/refunds.py")
    with pytest.raises(SpecError, match="catalogs/refunds.py"):
        check_spec(refused)


def test_salesforce_refuses_what_an_upsert_on_an_external_id_cannot_do():
    def sf(**options):
        return CatalogSpec(name="plans", table="plans", primary_key="id", cursor_column="updated_at",
                           created_at_column="created_at", systems={"salesforce": [ExternalObject(
                               "Product2", [Field("name", "Name", create_only=True)],
                               external_id_field="Zenskar_Id__c", **options)]})

    check_spec(sf())
    with pytest.raises(SpecError, match=r"salesforce cannot replace \(replace_on_change\) a Product2"):
        check_spec(sf(replace_on_change=True))
    check_spec(sf(key="monthly"))  # several per row: each upserts on `<row id>:<key>` (a plan's price entries)
    with pytest.raises(SpecError, match=r"salesforce cannot look up by value"):
        check_spec(sf(lookup="Name"))
