"""Objects of one row that depend on each other, through the engine and the in-memory system."""

import pytest

from zensync_pipelines.engine.spec import CatalogSpec, ExternalObject, Field, Reference, SpecError
from zensync_pipelines.engine.sync import Selection, sync
from zensync_pipelines_tests.memory_system import ListSource, MemorySystem, SimulatedCrash


def price(key, column, **kwargs):
    return ExternalObject("price", key=key, after="product", fields=[
        Field("id", "product", same_row="product", create_only=True),
        Field(column, "amount", type="integer", required=True, create_only=True),
        Field("name", "nickname"),
    ], **kwargs)


def spec(**price_options):
    return CatalogSpec(name="plans", table="plans", primary_key="id", cursor_column="updated_at",
                       created_at_column="created_at", soft_delete_column="deleted_at", systems={"memory": [
                           ExternalObject("product", [Field("name", "name", required=True)]),
                           price("monthly", "monthly", **price_options), price("yearly", "yearly", **price_options),
                       ]})


def plans(count):
    return [{"id": i, "name": f"Plan {i}", "monthly": 100 * i, "yearly": 1000 * i, "deleted_at": None}
            for i in range(1, count + 1)]


def run(catalog, store, system, data, run_id):
    return sync(catalog, "memory", ListSource(data), store, system, run_id, Selection())


@pytest.mark.usefixtures("batches")  # in-memory and spooled batches
def test_a_price_gets_the_product_id_of_its_own_row_within_the_batch(store):
    system, data = MemorySystem(batch_size=4), plans(5)
    report = run(spec(), store, system, data, "r1")
    assert (report.created, report.failed, report.waiting) == (15, 0, 0)
    products = system.live("product")
    assert len(products) == 5 and len(system.live("price")) == 10
    for stored in system.live("price").values():
        assert products[stored["product"]]["zenskar_id"] == stored["zenskar_id"]
    rows = {(r["internal_id"], r["object_type"]): r for r in store.rows("plans", "memory")}
    assert rows[("2", "monthly")]["external_id"] != rows[("2", "yearly")]["external_id"]  # own identities
    assert run(spec(), store, system, data, "r2").api_calls == 0  # resolved fingerprints are the recorded ones


@pytest.mark.usefixtures("batches")  # in-memory and spooled batches
def test_create_only_fields_are_never_updated_and_a_change_to_them_alone_costs_nothing(store):
    system, data = MemorySystem(), plans(2)
    run(spec(), store, system, data, "r1")
    data[0]["monthly"] = 999  # create-only, no replace_on_change: the price keeps what it was created with
    assert run(spec(), store, system, data, "r2").api_calls == 0
    data[0]["name"] = "Renamed"
    report = run(spec(), store, system, data, "r3")
    assert report.updated == 3
    updates = [w for w in system.writes if w[0] == "update" and w[1] in ("monthly", "yearly")]
    assert len(updates) == 2
    [monthly] = [p for p in system.live("price").values() if p["zenskar_id"] == "1" and p["amount"] == 100]
    assert monthly["nickname"] == "Renamed"


@pytest.mark.usefixtures("batches")  # in-memory and spooled batches
def test_a_crash_after_the_product_was_written_duplicates_nothing(store):
    system, data = MemorySystem(), plans(1)
    system.crash_after_writes = 1  # the product landed; the run died before its prices
    with pytest.raises(SimulatedCrash):
        run(spec(), store, system, data, "r1")
    report = run(spec(), store, system, data, "r2")
    assert (report.created, report.failed) == (3, 0)
    assert len(system.live("product")) == 1 and len(system.live("price")) == 2
    [product_id] = system.live("product")
    assert {p["product"] for p in system.live("price").values()} == {product_id}


@pytest.mark.usefixtures("batches")  # in-memory and spooled batches
def test_a_failed_product_holds_its_prices(store):
    system, data = MemorySystem(), plans(2)
    system.reject["2"] = ("invalid", "refused", "name")
    report = run(spec(), store, system, data, "r1")
    assert report.failed == 1 and report.waiting == 2 and report.created == 3
    waiting = [r for r in store.rows("plans", "memory", internal_id="2") if r["status"] == "waiting"]
    assert {r["object_type"] for r in waiting} == {"monthly", "yearly"}


@pytest.mark.parametrize("objects, message", [
    ([ExternalObject("price", [Field("id", "product", same_row="product")])], "same_row='product' must name"),
    ([ExternalObject("product", [Field("name", "name")]),
      ExternalObject("price", [Field("name", "nickname")], replace_on_change=True)], "needs create_only fields"),
    ([ExternalObject("product", [Field("name", "name")]), ExternalObject("product", [Field("name", "name")])],
     "give each a distinct key="),
    ([ExternalObject("product", [Field("name", "name")], lookup="title")], "lookup='title' must be one of"),
    ([ExternalObject("product", [Field("name", "name")]),
      ExternalObject("price", [Field("id", "product", references=Reference("plans", "product"))])],
     "points at this catalog itself.*declare same_row='product'"),
    ([ExternalObject("product", [Field("name", "name")]),
      ExternalObject("price", [Field("name", "nickname")], pointed_by=("plan", "default_price"))],
     "pointed_by names 'plan'"),
])
def test_row_object_declarations_that_cannot_work_are_refused(objects, message):
    with pytest.raises(SpecError, match=message):
        CatalogSpec(name="plans", table="plans", primary_key="id", cursor_column="updated_at",
                    created_at_column="created_at", systems={"memory": objects})


def test_a_fingerprint_recorded_before_replace_on_change_is_no_create_only_change():
    """An object declared replace_on_change after its writes (PricebookEntry) holds fingerprints of its whole
    updatable payload: they say nothing of its create-only values, so the first plan updates (recording the
    two-part fingerprint) instead of replacing every record once."""
    from zensync_pipelines.engine.payload import fingerprint
    from zensync_pipelines.engine.same_row import create_only_changed, object_fingerprint, split
    from zensync_pipelines.engine.spec import ExternalObject, Field

    entry = ExternalObject("PricebookEntry", replace_on_change=True, fields=[
        Field("currency", "CurrencyIsoCode", create_only=True), Field("amount", "UnitPrice", type="integer")])
    payload = {"CurrencyIsoCode": "USD", "UnitPrice": 10}
    now = object_fingerprint(entry, payload)
    legacy = fingerprint(split(entry, payload)[0])
    assert not create_only_changed(entry, legacy, now, payload)
    assert not create_only_changed(entry, now, now, payload)
    other = object_fingerprint(entry, {"CurrencyIsoCode": "EUR", "UnitPrice": 10})
    assert create_only_changed(entry, other, now, payload)
    assert create_only_changed(entry, other, now)  # without the payload: as before
