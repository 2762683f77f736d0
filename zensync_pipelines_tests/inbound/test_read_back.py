"""Read-back: objects changed or deleted in Stripe with no webhook at all are found and repaired by policy."""

from zensync_pipelines.dagster_defs.drift import last_read_back, run_read_back
from zensync_pipelines.demo.tables import customers
from zensync_pipelines.store.catalog import CatalogTables
from zensync_pipelines.store.inbox import InboxStore
from zensync_pipelines.store.mappings import MappingStore

from .helpers import SPECS, adapter, add_customers, by_hand, inbound, push, row, stripe_id


def read_back(engine, url):
    return run_read_back(SPECS["customers"], "stripe", adapter(url), engine, CatalogTables(engine),
                         MappingStore(engine))


def test_drift_nobody_reported_is_found_and_repaired(engine, stripe_sandbox_url):
    url = stripe_sandbox_url
    add_customers(engine, 4)
    push(engine, url)
    client = by_hand(url)
    ids = {n: stripe_id(engine, "customers", n) for n in range(1, 5)}
    client.v1.customers.update(ids[1], params={"name": "Renamed in the dashboard"})  # outbound-only field
    client.v1.customers.update(ids[2], params={"phone": "+15559999"})  # inbound field, its webhook lost
    client.v1.customers.delete(ids[3])
    report = read_back(engine, url)
    assert (report.checked, report.in_sync, report.changed, report.inbound, report.missing) == (3, 1, 1, 1, 1)
    assert report.api_calls >= 2 and last_read_back(SPECS["customers"], "stripe", engine)["drift"] == 3
    assert {e["source"] for e in InboxStore(engine).rows()} == {"readback"}
    assert read_back(engine, url).inbound == 1 and len(InboxStore(engine).rows()) == 2  # same drift, stored once
    applied = inbound(engine, url)
    assert (applied.applied, applied.deletes) == (1, 1)
    assert row(engine, customers, 2)["phone"] == "+15559999"
    repaired = push(engine, url)
    assert (repaired.updated, repaired.created) == (1, 1)  # the name put back; customer 3 re-created
    assert client.v1.customers.retrieve(ids[1]).name == "Customer 1"
    again = read_back(engine, url)
    assert (again.drift, again.in_sync) == (0, 4)


def test_the_read_back_gives_a_mapping_from_before_bases_its_base(engine, stripe_sandbox_url):
    """Existing mappings get their base on their next sync or reconcile: one found in sync takes the row's payload
    as its base; one found drifted forgets its base with its fingerprint (the next write sends the whole row)."""
    import json

    from sqlalchemy import update

    from zensync_pipelines.store.tables import mappings

    url = stripe_sandbox_url
    add_customers(engine, 2)
    push(engine, url)
    with engine.begin() as connection:
        connection.execute(update(mappings).values(field_base=None))
    by_hand(url).v1.customers.update(stripe_id(engine, "customers", 2), params={"name": "Renamed by hand"})
    report = read_back(engine, url)
    assert (report.in_sync, report.changed) == (1, 1)
    found = {m["internal_id"]: m for m in MappingStore(engine).rows("customers", "stripe")}
    assert json.loads(found["1"]["field_base"])["email"] == "c1@example.com"
    assert found["2"]["field_base"] is None and found["2"]["fingerprint"] is None
