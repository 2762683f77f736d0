"""`zensync seed --subscriptions N`, and the spec language's selecting reference the subscriptions catalog uses:
validation at load, the object each row picks, and a row whose choice has no object."""

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from zensync_pipelines.cli import main
from zensync_pipelines.demo.subscriptions import BAD_INTERVAL
from zensync_pipelines.demo.tables import customers, plans, subscriptions
from zensync_pipelines.engine.plan import plan_row
from zensync_pipelines.engine.spec import CatalogSpec, ExternalObject, Field, Reference, SpecError
from zensync_pipelines.engine.sync import _resolve_references
from zensync_pipelines.store.db import make_engine

PRICE = Reference("plans", "price", select_by="interval", select={"month": "monthly_price", "year": "yearly_price"})


def test_seed_subscriptions_over_customers_and_plans_in_their_currency(sqlite_url, monkeypatch):
    monkeypatch.setenv("ZENSYNC_DATABASE_URL", sqlite_url)
    first = CliRunner().invoke(main, ["seed", "--subscriptions", "60"])
    assert first.exit_code == 0, first.output
    assert "customers: 50 added" in first.output and "plans: " not in first.output
    assert "subscriptions: 60 added (60 wanted)" in first.output
    again = CliRunner().invoke(main, ["seed", "--subscriptions", "60"])
    assert "subscriptions: 0 added (60 wanted)" in again.output
    with make_engine(sqlite_url).connect() as connection:
        subs = {r.id: r for r in connection.execute(select(subscriptions))}
        currency = dict(connection.execute(select(customers.c.id, customers.c.currency)).all())
        plan_currency = dict(connection.execute(select(plans.c.id, plans.c.currency)).all())
    assert sorted(subs) == list(range(1, 61)) and len(plan_currency) == 20
    assert all(currency[s.customer_id] == plan_currency[s.plan_id] for s in subs.values())
    assert {s.interval for i, s in subs.items() if i % 50 != BAD_INTERVAL} == {"month", "year"}
    assert subs[BAD_INTERVAL].interval == "week" and all(s.status == "active" for s in subs.values())
    assert {s.quantity for s in subs.values()} <= {1, 2, 5, 10, 25}


def spec(reference: Reference) -> CatalogSpec:
    return CatalogSpec(name="subs", table="subs", primary_key="id", cursor_column="updated_at",
                       created_at_column="created_at", systems={"stripe": [ExternalObject("subscription", fields=[
                           Field("plan_id", "price", required=True, references=reference)])]})


def test_a_selecting_reference_is_checked_when_the_spec_loads():
    assert "interval" in spec(PRICE).columns  # the choosing column is read with the row
    with pytest.raises(SpecError, match="needs both select_by"):
        spec(Reference("plans", "price", select_by="interval"))
    with pytest.raises(SpecError, match="needs both select_by"):
        spec(Reference("plans", "price", select={"month": "monthly_price"}))
    with pytest.raises(SpecError, match="must map each interval value to an object name"):
        spec(Reference("plans", "price", select_by="interval", select={"month": ""}))
    assert hash(PRICE) == hash(Reference("plans", "price", select_by="interval", select={"month": "x"}))
    assert PRICE != Reference("plans", "price", select_by="interval", select={"month": "x"})


class Mappings:
    """The plans' mappings: one query per object name, as the store answers them."""

    def __init__(self):
        self.queries = []

    def external_ids(self, catalog, system, object_type, internal_ids):
        self.queries.append((catalog, object_type, tuple(internal_ids)))
        return {i: f"{object_type}_{i}" for i in internal_ids if i != "9"}


def test_each_row_gets_the_object_its_column_chooses_and_a_choice_without_one_is_invalid():
    subs = spec(PRICE)
    rows = [{"id": 1, "plan_id": 4, "interval": "month"}, {"id": 2, "plan_id": 4, "interval": "year"},
            {"id": 3, "plan_id": 5, "interval": "month"}, {"id": 4, "plan_id": 5, "interval": "week"},
            {"id": 5, "plan_id": 9, "interval": "year"}]
    mappings = Mappings()
    resolved = _resolve_references(subs, "stripe", rows, mappings)
    assert [r["subscription"]["price"] for r in resolved] == \
        ["monthly_price_4", "yearly_price_4", "monthly_price_5", None, None]
    assert sorted(mappings.queries) == [("plans", "monthly_price", ("4", "5")), ("plans", "yearly_price", ("4", "9"))]

    def verdict(index):
        plan = plan_row(subs, "stripe", rows[index], {}, resolved[index])
        return plan.operations[0].payload if plan.operations else plan.outcomes[0]

    assert verdict(1) == {"price": "yearly_price_4"}
    week = verdict(3)
    assert (week.status, week.error_code, week.error_field) == ("invalid", "invalid_choice", "interval")
    assert "'week' is not one of ['month', 'year']" in week.error_message
    missing = verdict(4)
    assert (missing.status, missing.error_code) == ("waiting", "reference_not_synced")
    assert "plans row 9 has no yearly_price there" in missing.error_message
