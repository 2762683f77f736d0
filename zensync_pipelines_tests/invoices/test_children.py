"""Children in the catalog reader: attached to their parent, covered by its fingerprint, and found by cursor."""

import datetime as dt

import pytest
from sqlalchemy import select

from zensync_pipelines.catalogs import load_specs
from zensync_pipelines.dagster_defs.sensors import detect_changes
from zensync_pipelines.demo.tables import invoice_lines
from zensync_pipelines.demo.invoices import seed_invoices
from zensync_pipelines.engine.payload import build_payload, fingerprint
from zensync_pipelines.engine.spec import CatalogSpec, Children, ExternalObject, Field, SpecError
from zensync_pipelines.engine.sync import Selection
from zensync_pipelines.store.catalog import CatalogTables
from zensync_pipelines.store.changes import ChangeFeed
from zensync_pipelines.store.db import make_engine

from .helpers import set_line, touch

SPEC = {spec.name: spec for spec in load_specs()}["invoices"]
LATER = dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc)


@pytest.fixture
def catalog(database_url):
    engine = make_engine(database_url)
    seed_invoices(engine, 30, 40)
    yield engine
    engine.dispose()


def read(engine, selection=Selection(), chunk_size=7):
    return {str(row["id"]): row for rows in CatalogTables(engine).iter_chunks(SPEC, selection, chunk_size)
            for row in rows}


def test_each_row_carries_its_lines_in_order_across_chunks(catalog):
    rows = read(catalog)
    assert len(rows) == 30
    for internal_id, row in rows.items():
        ids = [line["id"] for line in row["lines"]]
        assert ids == sorted(ids) and 2 <= len(ids) <= 5
        assert all(line["invoice_id"] == int(internal_id) for line in row["lines"])
        assert set(row["lines"][0]) == {"id", "invoice_id", "description", "quantity", "unit_amount"}


def test_a_changed_line_changes_the_fingerprint_and_selects_its_invoice(catalog):
    [obj] = SPEC.objects("stripe")
    before = read(catalog)["5"]
    refs = {"customer": "cus_x"}
    set_line(catalog, before["lines"][0]["id"], description="Renamed line")
    after = read(catalog)["5"]
    assert fingerprint(build_payload(obj, before, refs)[0]) != fingerprint(build_payload(obj, after, refs)[0])

    since = dt.datetime.now(dt.timezone.utc) - dt.timedelta(minutes=1)
    assert set(read(catalog, Selection(changed_since=since))) == {"5"}
    touch(catalog, 9)  # a parent change is still seen on its own cursor
    assert set(read(catalog, Selection(changed_since=since))) == {"5", "9"}
    assert read(catalog, Selection(changed_since=LATER)) == {}


def test_children_are_validated_with_the_spec_and_against_the_table(catalog):
    with pytest.raises(SpecError, match="children\\['lines'\\].columns"):
        CatalogSpec("bad", "invoices", "id", "updated_at", "created_at",
                    {"memory": [ExternalObject("x", [Field("number", "n")])]},
                    children=[Children("lines", "invoice_lines", "invoice_id", "updated_at", columns=[])])
    broken = CatalogSpec("broken", "invoices", "id", "updated_at", "created_at",
                         {"memory": [ExternalObject("x", [Field("number", "n")])]},
                         children=[Children("lines", "invoice_lines", "invoice_id", "updated_at", ["price"])])
    with pytest.raises(SpecError, match="table 'invoice_lines' has no column 'price'"):
        list(CatalogTables(catalog).iter_chunks(broken, Selection(), 10))


def test_the_change_sensor_sees_a_line_edited_without_touching_its_invoice(catalog):
    feed = ChangeFeed(CatalogTables(catalog))
    first = detect_changes(feed, SPEC, None, overlap_seconds=300)
    assert detect_changes(feed, SPEC, first.cursor, overlap_seconds=300) is None  # idle

    with catalog.connect() as connection:
        line_id, invoice_id = connection.execute(select(invoice_lines.c.id, invoice_lines.c.invoice_id)
                                                 .order_by(invoice_lines.c.id).limit(1)).one()
    set_line(catalog, line_id, description="Edited line")  # the invoice's own updated_at stays put
    found = detect_changes(feed, SPEC, first.cursor, overlap_seconds=300)
    assert found is not None and found.cursor.key == f"lines/{line_id}"
    selected = read(catalog, Selection(changed_since=found.changed_since))
    assert str(invoice_id) in selected
    assert [line["description"] for line in selected[str(invoice_id)]["lines"]][0] == "Edited line"
    assert detect_changes(feed, SPEC, found.cursor, overlap_seconds=300) is None  # and idle again
