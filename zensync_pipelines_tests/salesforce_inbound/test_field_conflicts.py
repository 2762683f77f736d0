"""Same-field conflicts on Salesforce's two-way fields are recorded like Stripe's, on every path: Account Phone
and BillingCity and Contact Phone edited in Salesforce and in the catalog to different values, with the inbound
run first or the outbound run first, end with one row of zensync_conflicts holding both values, the rule and the
winner, and the winner on every side (simple-salesforce over HTTPS to the sandbox, both databases)."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select

from zensync_pipelines.store.tables import conflicts
from zensync_pipelines_tests.salesforce.conftest import resource_for, run_engine

from .test_field_merge import edit, record, settle
from .test_inbound_customers import inbound, linked, poll, row, synced

FIELDS = {  # object, its field -> the catalog's column
    ("Account", "Phone"): "phone", ("Account", "BillingCity"): "city", ("Contact", "Phone"): "phone"}


def recorded(engine) -> list[dict]:
    with engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(select(conflicts).order_by(conflicts.c.id))]


@pytest.mark.parametrize("catalog_newer", [True, False], ids=["catalog newer", "salesforce newer"])
@pytest.mark.parametrize("outbound_first", [True, False], ids=["outbound first", "inbound first"])
@pytest.mark.parametrize("field", list(FIELDS), ids=lambda f: ".".join(f))
def test_a_same_field_edit_on_both_sides_is_recorded_and_its_rule_decides(sb, sales, database_url, field,
                                                                           outbound_first, catalog_newer):
    object_type, name = field
    column = FIELDS[field]
    engine = synced(sb, database_url, 1)
    external_id = linked(engine, object_type)["1"]["external_id"]
    mine, theirs = ("+1 555 0001", "+1 555 0002") if column == "phone" else ("Lisbon", "Porto")
    # newest_wins: the catalog's time is set around Salesforce's (the sandbox stamps its own clock).
    shift = dt.timedelta(minutes=5 if catalog_newer else -5)
    getattr(sales, object_type).update(external_id, {name: theirs})
    edit(engine, "1", **{column: mine, "updated_at": dt.datetime.now(dt.timezone.utc) + shift})
    poll(sb, engine)
    if outbound_first:
        assert run_engine(engine, resource_for(sb).adapter()).failed == 0
        # Not overwritten before any run saw it: the field is withheld and left to the inbound merge.
        assert record(sb, object_type, "1", name)[name] == theirs
        poll(sb, engine)
    assert inbound(sb, engine).failed == 0
    assert run_engine(engine, resource_for(sb).adapter()).failed == 0
    poll(sb, engine)
    assert inbound(sb, engine).failed == 0
    assert run_engine(engine, resource_for(sb).adapter()).failed == 0
    winner = mine if catalog_newer else theirs
    [conflict] = recorded(engine)
    assert (conflict["object_type"], conflict["field"], conflict["column"], conflict["rule"]) == \
        (object_type, name, column, "newest_wins")
    assert (json.loads(conflict["catalog_value"]), json.loads(conflict["system_value"])) == (mine, theirs)
    assert conflict["winner"] == ("catalog" if catalog_newer else "system")
    assert row(engine, "1")[column] == winner
    assert record(sb, object_type, "1", name)[name] == winner
    settle(sb, engine)
    assert len(recorded(engine)) == 1


def test_an_update_that_would_overwrite_a_sales_edit_waits_whole_so_newest_wins_compares_the_edits_own_time(
        sb, sales, database_url):
    engine = synced(sb, database_url, 1)
    account = linked(engine, "Account")["1"]["external_id"]
    sales.Account.update(account, {"Phone": "+1 555 0002"})
    edit(engine, "1", phone="+1 555 0001", city="Porto",  # the catalog's edit is the newer one
         updated_at=dt.datetime.now(dt.timezone.utc) + dt.timedelta(minutes=5))
    poll(sb, engine)
    held = run_engine(engine, resource_for(sb).adapter())
    # The Account's update is counted as held, not as updated (nothing of it reached Salesforce); the Contact,
    # untouched in Salesforce, takes the new phone.
    assert (held.failed, held.held, held.updated) == (0, 1, 1)
    # Not even the city went out: a write would have moved the record's SystemModstamp past the catalog's edit.
    before = record(sb, "Account", "1", "Phone, BillingCity")
    assert before["Phone"] == "+1 555 0002" and before["BillingCity"] != "Porto"
    poll(sb, engine)
    assert inbound(sb, engine).conflicts == 1
    assert run_engine(engine, resource_for(sb).adapter()).failed == 0
    [conflict] = recorded(engine)
    assert (conflict["field"], conflict["winner"]) == ("Phone", "catalog")
    assert record(sb, "Account", "1", "Phone, BillingCity") | {"attributes": None} == \
        {"Phone": "+1 555 0001", "BillingCity": "Porto", "attributes": None}
    settle(sb, engine)
