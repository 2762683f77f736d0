"""Field directions, conflict rules and inbound policies: declared in the spec, validated when it loads."""

import pytest

from zensync_pipelines.catalogs import load_specs
from zensync_pipelines.engine.mapper import mapper_for
from zensync_pipelines.engine.spec import (CatalogSpec, ExternalObject, Field, Inbound, Reference, SpecError,
                                           inbound_routes)
from zensync_pipelines.engine.strategy import INBOUND_ONLY, Strategy


def make(*fields, inbound=None, **changes):
    base = dict(name="things", table="things", primary_key="id", cursor_column="updated_at",
                created_at_column="created_at",
                systems={"memory": [ExternalObject("thing", [Field("name", "name"), *fields], inbound=inbound)]})
    return CatalogSpec(**(base | changes))


@pytest.mark.parametrize("fields, inbound, message", [
    ([Field("e", "e", direction="sideways")], None, "direction 'sideways' is not one of"),
    ([Field("e", "e", direction="both")], None, "direction 'both' needs conflict="),
    ([Field("e", "e", direction="both", conflict="loudest_wins")], None, "needs conflict="),
    ([Field("e", "e", direction="in", conflict="newest_wins")], None, "conflict applies to direction 'both'"),
    ([Field("e", "e", inbound_values={"a": "b"})], None, "need direction 'in' or 'both'"),
    ([Field("e", "e", direction="in", transform=str.lower)], None, "outbound transform cannot be reversed"),
    ([Field("e", "e", direction="in", type="object")], None, "cannot be inbound"),
    ([Field("updated_at", "u", direction="in")], None, "zensync's bookkeeping"),
    ([Field("s", "s", direction="in", choices=["x"], inbound_values={"X": "y"})], None, "not among the field's"),
    ([Field("s", "s", direction="in", inbound_values={})], None, "non-empty mapping"),
    ([], Inbound(on_delete="explode"), "on_delete 'explode' is not one of"),
    ([], Inbound(on_delete="soft_delete"), "needs the spec's soft_delete_column"),
    ([], Inbound(create_rows=True), "create_rows needs inbound fields"),
    ([Field("o", "o", direction="both", conflict="newest_wins", references=Reference("owners", "owner"))], None,
     "direction 'in' only"),
    ([Field("o", "o", direction="in", references=Reference("owners", "owner"), inbound_transform=str)], None,
     "takes the external id as it is"),
])
def test_bad_inbound_declarations_fail_at_load_naming_the_field(fields, inbound, message):
    with pytest.raises(SpecError, match="catalog spec 'things'") as error:
        make(*fields, inbound=inbound)
    assert message in str(error.value)


def test_an_object_needs_an_outbound_field():
    with pytest.raises(SpecError, match="maps no outbound field"):
        CatalogSpec(name="t", table="t", primary_key="id", cursor_column="u", created_at_column="c",
                    systems={"m": [ExternalObject("x", [Field("a", "a", direction="in")])]})


def born_there(*fields, inbound=Inbound(create_rows=True), **strategy):
    return CatalogSpec(name="t", table="t", primary_key="id", cursor_column="u", created_at_column="c",
                       strategies={"m": Strategy(mode=INBOUND_ONLY, **strategy)},
                       systems={"m": [ExternalObject("x", list(fields), inbound=inbound)]})


def test_an_inbound_only_copy_needs_no_outbound_field_and_may_resolve_references():
    spec = born_there(Field("a", "a", direction="in"),
                      Field("owner_id", "owner", direction="in", references=Reference("owners", "owner")))
    assert spec.references("m") == []  # resolved inbound, when an event is applied: no outbound dependency
    assert not spec.strategy("m").outbound and "inbound_only" in spec.strategy("m").describe()


@pytest.mark.parametrize("fields, inbound, strategy, message", [
    ([Field("a", "a")], Inbound(create_rows=True), {}, "would never be sent; declare them direction='in'"),
    ([Field("a", "a", direction="in")], None, {}, "needs inbound=Inbound(...)"),
    ([Field("a", "a", direction="in")], Inbound(create_rows=True), {"trigger": "manual"},
     "which an inbound_only copy never has"),
])
def test_bad_inbound_only_copies_fail_at_load(fields, inbound, strategy, message):
    with pytest.raises(SpecError, match="catalog spec 't'") as error:
        born_there(*fields, inbound=inbound, **strategy)
    assert message in str(error.value)


def test_inbound_only_fields_never_reach_the_payload():
    spec = make(Field("paid", "paid", direction="in"), Field("mail", "mail", direction="both", conflict="newest_wins"))
    payload, errors = mapper_for(spec.objects("memory")[0]).build({"name": "n", "paid": "yes", "mail": "m"})
    assert (payload, errors) == ({"name": "n", "mail": "m"}, [])
    assert "paid" in spec.columns  # read, to compare with what arrives


def test_routes_name_the_catalog_of_each_inbound_object_type_first_the_one_that_imports():
    specs = load_specs()
    assert inbound_routes(specs, "stripe") == {"customer": "customers", "invoice": "invoices",
                                               "charge": "payments", "subscription": "subscriptions"}
    assert inbound_routes(specs, "salesforce") == {"Account": "customers", "Contact": "customers"}

    def reader(name, create_rows=False):
        return make(Field("e", "e", direction="in"), name=name, source=f"{name}.py", systems={"sf": [ExternalObject(
            "Contact", [Field("n", "name"), Field("e", "email", direction="in")],
            inbound=Inbound(create_rows=create_rows))]})

    # Several catalogs may read one type: its events first reach the one that imports unlinked objects.
    assert inbound_routes([reader("alpha"), reader("beta")], "sf") == {"Contact": "alpha"}
    assert inbound_routes([reader("alpha"), reader("beta", create_rows=True)], "sf") == {"Contact": "beta"}
    with pytest.raises(SpecError) as refused:  # a new, unlinked object could belong to either
        inbound_routes([reader("alpha", create_rows=True), reader("beta", create_rows=True)], "sf")
    assert str(refused.value) == (
        "catalog specs 'alpha' (alpha.py) and 'beta' (beta.py) both import sf Contact objects made by hand "
        "(inbound create_rows=True): a new Contact could belong to either; keep create_rows on one of them")


def test_shipped_policies():
    specs = {spec.name: spec for spec in load_specs()}
    customer = specs["customers"].objects("stripe")[0]
    assert {f.column: f.conflict for f in customer.inbound_fields} == {
        c: "newest_wins" for c in ("email", "phone", "address_line1", "address_line2", "city", "state",
                                   "postal_code", "country")}
    assert customer.inbound_policy == Inbound(on_delete="recreate", create_rows=False)
    invoice = specs["invoices"].objects("stripe")[0]
    status = next(f for f in invoice.inbound_fields if f.column == "status")
    assert (status.direction, status.conflict, status.inbound_values["open"]) == ("both", "system_wins", "issued")
    assert {f.column for f in invoice.inbound_fields if f.direction == "in"} == {"paid_at", "voided_at"}
