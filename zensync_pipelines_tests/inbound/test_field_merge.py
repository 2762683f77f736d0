"""Two people editing one customer on two sides lose nothing: different fields both survive everywhere in either
order of runs, a field both changed goes by its rule, the loser is recorded, and updates send only what changed.
Real stripe SDK over HTTP to the sandbox, both databases."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json

import pytest
from sqlalchemy import select

from zensync_pipelines.demo.tables import customers
from zensync_pipelines.engine.inbound.run import InboundRun
from zensync_pipelines.engine.spec import CatalogSpec
from zensync_pipelines.engine.sync import Selection, sync
from zensync_pipelines.store.catalog import CatalogTables
from zensync_pipelines.store.inbound_apply import InboundTables
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines.store.tables import conflicts
from zensync_pipelines.systems.stripe.current import StripeCurrentState
from zensync_pipelines.systems.stripe.inbound import StripeEvents

from .helpers import SPECS, adapter, add_customers, by_hand, edit, pull, row, stripe_id

NOW = dt.datetime.now


def with_rule(rule: str) -> CatalogSpec:
    """The customers spec with every two-way Stripe field under `rule`."""
    spec = SPECS["customers"]
    [customer] = spec.systems["stripe"]
    fields = [dataclasses.replace(f, conflict=rule) if f.conflict else f for f in customer.fields]
    return dataclasses.replace(spec, systems={"stripe": [dataclasses.replace(customer, fields=fields)]})


class Sides:
    """The catalog, the Stripe sandbox, and the runs between them for one spec."""

    def __init__(self, engine, url: str, spec: CatalogSpec = SPECS["customers"]):
        self.engine, self.url, self.spec, self.runs = engine, url, spec, 0
        add_customers(engine, 1)
        self.push()
        self.external = stripe_id(engine, "customers", 1)
        self.client = by_hand(url)

    def push(self):
        self.runs += 1
        return sync(self.spec, "stripe", CatalogTables(self.engine), MappingStore(self.engine), adapter(self.url),
                    f"out-{self.runs}", Selection())

    def pull_and_apply(self):
        self.runs += 1
        pull(self.engine, self.url)
        return InboundRun(self.spec, "stripe", InboundTables(self.engine), StripeEvents(),
                          StripeCurrentState(adapter(self.url)), f"in-{self.runs}").run()

    def stripe(self):
        return self.client.v1.customers.retrieve(self.external)

    def catalog(self):
        return row(self.engine, customers, 1)

    def settle(self) -> None:
        """Two idle rounds: nothing is written anywhere (no flip-flop)."""
        for _ in range(2):
            report = self.pull_and_apply()
            assert (report.applied, report.failed) == (0, 0)
            assert self.push().api_calls == 0

    def conflicts(self) -> list[dict]:
        with self.engine.connect() as connection:
            return [dict(r._mapping) for r in connection.execute(select(conflicts).order_by(conflicts.c.id))]


@pytest.mark.parametrize("outbound_first", [True, False], ids=["outbound first", "inbound first"])
def test_different_fields_edited_on_both_sides_both_survive_everywhere(engine, stripe_sandbox_url, outbound_first):
    sides = Sides(engine, stripe_sandbox_url)
    edit(engine, customers, 1, email="catalog@example.com")
    sides.client.v1.customers.update(sides.external, params={"phone": "+1 555 0199"})
    if outbound_first:
        sent = sides.push()
        assert sent.updated == 1
        # Only the email went out: the dashboard's phone is still Stripe's.
        assert (sides.stripe().email, sides.stripe().phone) == ("catalog@example.com", "+1 555 0199")
        assert sides.pull_and_apply().applied == 1
    else:
        assert sides.pull_and_apply().applied == 1
        assert sides.catalog()["email"] == "catalog@example.com"  # the catalog's unsent edit is kept
        assert sides.push().updated == 1
    assert (sides.catalog()["email"], sides.catalog()["phone"]) == ("catalog@example.com", "+1 555 0199")
    assert (sides.stripe().email, sides.stripe().phone) == ("catalog@example.com", "+1 555 0199")
    sides.settle()
    assert sides.conflicts() == []


def test_an_update_sends_only_the_fields_the_catalog_changed(engine, stripe_sandbox_url, monkeypatch):
    sides = Sides(engine, stripe_sandbox_url)
    seen: list[dict] = []
    from zensync_pipelines.systems.stripe import objects

    update = objects.ResourceHandler.update

    def spy(self, external_id, internal_id, payload, key):
        seen.append(payload)
        return update(self, external_id, internal_id, payload, key)

    monkeypatch.setattr(objects.ResourceHandler, "update", spy)
    edit(engine, customers, 1, city="Lyon")
    assert sides.push().updated == 1
    # The address is one Stripe hash, sent whole; nothing else (the handler adds zensync's tag).
    assert [sorted(p) for p in seen] == [["address"]]
    assert seen[0]["address"]["city"] == "Lyon" and sides.stripe().address.city == "Lyon"


@pytest.mark.parametrize("outbound_first", [True, False], ids=["outbound first", "inbound first"])
@pytest.mark.parametrize("rule,system_newer,winner", [
    ("newest_wins", True, "system"), ("newest_wins", False, "catalog"),
    ("catalog_wins", True, "catalog"), ("system_wins", False, "system")])
def test_the_same_field_edited_on_both_sides_follows_its_rule_and_the_loser_is_recorded(
        engine, stripe_sandbox_url, rule, system_newer, winner, outbound_first):
    sides = Sides(engine, stripe_sandbox_url, with_rule(rule))
    catalog_at = NOW(dt.timezone.utc) + dt.timedelta(minutes=-10 if system_newer else 10)
    edit(engine, customers, 1, email="catalog@example.com", updated_at=catalog_at)
    sides.client.v1.customers.update(sides.external, params={"email": "stripe@example.com"})
    if outbound_first:
        sides.push()
        sides.pull_and_apply()
    else:
        sides.pull_and_apply()
    sides.push()
    expected = {"system": "stripe@example.com", "catalog": "catalog@example.com"}[winner]
    assert sides.catalog()["email"] == sides.stripe().email == expected
    sides.settle()
    [conflict] = sides.conflicts()
    assert (conflict["field"], conflict["column"], conflict["rule"], conflict["winner"]) == \
        ("email", "email", rule, winner)
    # Never a silent overwrite: both values stay findable.
    assert {json.loads(conflict["catalog_value"]), json.loads(conflict["system_value"])} == \
        {"catalog@example.com", "stripe@example.com"}
    assert conflict["system_at"] is not None and conflict["catalog_at"] is not None


def test_the_same_value_on_both_sides_is_no_conflict(engine, stripe_sandbox_url):
    sides = Sides(engine, stripe_sandbox_url)
    edit(engine, customers, 1, email="same@example.com", phone="+1 555 0101")
    sides.client.v1.customers.update(sides.external, params={"email": "same@example.com"})
    assert sides.pull_and_apply().failed == 0
    assert sides.push().updated == 1  # the phone only
    assert (sides.stripe().email, sides.stripe().phone) == ("same@example.com", "+1 555 0101")
    sides.settle()
    assert sides.conflicts() == []


def test_a_mapping_from_before_bases_behaves_as_before_until_its_next_sync(engine, stripe_sandbox_url):
    sides = Sides(engine, stripe_sandbox_url)
    from sqlalchemy import update

    from zensync_pipelines.store.tables import mappings
    with engine.begin() as connection:
        connection.execute(update(mappings).values(field_base=None))
    edit(engine, customers, 1, email="catalog@example.com")
    assert sides.push().updated == 1  # no base: the whole payload, as before
    [mapping] = MappingStore(engine).rows("customers", "stripe")
    assert json.loads(mapping["field_base"])["email"] == "catalog@example.com"  # and now it has one
