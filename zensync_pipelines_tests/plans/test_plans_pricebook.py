"""The shipped `plans` catalog in Salesforce through the engine, on SQLite and PostgreSQL: a Product2 per plan and
its two prices as PricebookEntry records (monthly: the standard price book; yearly: the yearly one), by the plan's
currency; a price change moves UnitPrice in place; reruns make no call; a plan deleted takes its entries along."""

from __future__ import annotations

import datetime as dt
from typing import Any, Iterator

import pytest
from simple_salesforce import Salesforce
from sqlalchemy import update

from zensync_pipelines.catalogs import load_specs
from zensync_pipelines.catalogs.plans import STANDARD_PRICE_BOOK, YEARLY_PRICE_BOOK
from zensync_pipelines.demo.plans import NO_AMOUNT, seed_plans
from zensync_pipelines.demo.tables import plans
from zensync_pipelines.engine.sync import Selection, sync
from zensync_pipelines.sandbox.salesforce import SalesforceSandbox
from zensync_pipelines.store import migrate
from zensync_pipelines.store.catalog import CatalogTables
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines.store.tables import mappings
from zensync_pipelines.systems.salesforce import SalesforceResource

SPEC = {spec.name: spec for spec in load_specs()}["plans"]
LATER = dt.datetime(2027, 1, 1, tzinfo=dt.timezone.utc)
ENTRIES = ("SELECT Zenskar_Id__c, Product2.Zenskar_Id__c, Pricebook2.Zenskar_Id__c, CurrencyIsoCode, UnitPrice, "
           "IsActive, UseStandardPrice, Name FROM PricebookEntry")


class Org:
    """A catalog of plans, its mappings, and a Salesforce sandbox org."""

    def __init__(self, url: str, sb: SalesforceSandbox, count: int, **settings: Any):
        self.engine = make_engine(url)
        migrate.upgrade(self.engine)
        seed_plans(self.engine, count)
        self.mappings, self.sb, self.runs = MappingStore(self.engine), sb, 0
        self.resource = SalesforceResource(login_url=sb.login_url, client_id="zensync-app",
                                           client_secret="app-secret", ca_bundle=sb.ca_file,
                                           retry_base_seconds=0.002, bulk_poll_seconds=0.02, **settings)
        self.sf = Salesforce(instance_url=sb.instance_url, session_id=sb.new_session(),
                             session=sb.requests_session())

    def sync(self) -> Any:
        self.runs += 1
        return sync(SPEC, "salesforce", CatalogTables(self.engine), self.mappings, self.resource.adapter(),
                    f"run-{self.runs}", Selection())

    def set(self, plan_id: int, **values: Any) -> None:
        with self.engine.begin() as connection:
            connection.execute(update(plans).where(plans.c.id == plan_id).values(updated_at=LATER, **values))

    def entries(self) -> dict[str, dict[str, Any]]:
        return {r["Zenskar_Id__c"]: r for r in self.sf.query_all(ENTRIES)["records"]}

    def outcomes(self, plan_id: int) -> dict[str, dict[str, Any]]:
        return {r["object_type"]: r for r in self.mappings.rows("plans", "salesforce", internal_id=str(plan_id))}


@pytest.fixture
def sb() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox() as sandbox:
        yield sandbox


def _book(entry: dict[str, Any]) -> str:
    return entry["Pricebook2"]["Zenskar_Id__c"]


def test_every_plan_has_its_two_entries_and_a_price_change_moves_unit_price(database_url, sb) -> None:
    org = Org(database_url, sb, 6)
    first = org.sync()
    assert (first.created, first.failed) == (6 * 3, 0)
    entries = org.entries()
    assert len(entries) == 12
    for plan_id in range(1, 7):
        monthly, yearly = entries[f"{plan_id}:monthly_entry"], entries[f"{plan_id}:yearly_entry"]
        assert _book(monthly) == STANDARD_PRICE_BOOK and _book(yearly) == YEARLY_PRICE_BOOK
        assert monthly["Product2"]["Zenskar_Id__c"] == yearly["Product2"]["Zenskar_Id__c"] == str(plan_id)
        assert monthly["IsActive"] and yearly["IsActive"] and not monthly["UseStandardPrice"]
        assert monthly["CurrencyIsoCode"] == yearly["CurrencyIsoCode"]
    team = entries["2:monthly_entry"]  # Team 1: 2900 minor units a month, 29000 a year
    assert (team["Name"], team["UnitPrice"], entries["2:yearly_entry"]["UnitPrice"]) == ("Team 1", 29.0, 290.0)
    ids = {key: org.outcomes(2)[key]["external_id"] for key in ("monthly_entry", "yearly_entry")}
    assert org.sync().api_calls == 0  # the rerun: fingerprints unchanged, no call at all

    org.set(2, monthly_amount=3100, yearly_amount=31000)
    changed = org.sync()
    assert (changed.updated, changed.created, changed.failed) == (2, 0, 0)
    after = org.entries()
    assert (after["2:monthly_entry"]["UnitPrice"], after["2:yearly_entry"]["UnitPrice"]) == (31.0, 310.0)
    assert {key: org.outcomes(2)[key]["external_id"] for key in ids} == ids  # the same records, updated in place
    assert len(after) == 12 and org.sync().api_calls == 0

    org.set(4, deleted_at=LATER)
    gone = org.sync()
    assert (gone.deleted, gone.failed) == (3, 0)  # the yearly entry, the standard one, then the product
    assert not [key for key in org.entries() if key.startswith("4:")]
    assert org.sync().api_calls == 0


def test_a_plan_without_a_monthly_price_has_no_entries_and_says_why(sqlite_url, sb) -> None:
    """Salesforce needs the standard price first: the yearly entry waits for the monthly one, which is invalid."""
    org = Org(sqlite_url, sb, NO_AMOUNT)
    report = org.sync()
    assert (report.failed, report.waiting) == (1, 1)  # the invalid one counts as failed, with its reason
    assert sorted((f.object_type, f.status) for f in report.failures) == [("monthly_entry", "invalid"),
                                                                            ("yearly_entry", "waiting")]
    outcome = org.outcomes(NO_AMOUNT)
    assert outcome["Product2"]["status"] == "synced"
    assert outcome["monthly_entry"]["status"] == "invalid"
    assert outcome["monthly_entry"]["last_error_field"] == "monthly_amount"
    assert outcome["yearly_entry"]["status"] == "waiting"
    assert "monthly_entry" in outcome["yearly_entry"]["last_error"]
    assert not [key for key in org.entries() if key.startswith(f"{NO_AMOUNT}:")]
    org.set(NO_AMOUNT, monthly_amount=500)
    healed = org.sync()
    assert (healed.created, healed.failed) == (2, 0)
    assert org.entries()[f"{NO_AMOUNT}:monthly_entry"]["UnitPrice"] == 5.0


def test_a_zero_decimal_currency_keeps_its_units(sqlite_url, sb) -> None:
    org = Org(sqlite_url, sb, 1)
    org.set(1, currency="jpy", monthly_amount=1000, yearly_amount=10000)
    assert org.sync().failed == 0
    entries = org.entries()
    assert (entries["1:monthly_entry"]["CurrencyIsoCode"], entries["1:monthly_entry"]["UnitPrice"]) == ("JPY", 1000)


def test_entries_go_through_bulk_above_the_threshold(sqlite_url, sb) -> None:
    """Over the threshold each object's upserts are one Bulk 2.0 job: the price book is named by a relationship
    column (`Pricebook2.Zenskar_Id__c`) and each entry's results are matched on its own external-id value."""
    org = Org(sqlite_url, sb, 12, bulk_threshold=5)
    report = org.sync()
    assert (report.created, report.failed) == (12 * 3, 0)
    assert len(org.entries()) == 24
    assert {r["status"] for r in org.mappings.rows("plans", "salesforce")} == {"synced"}
    assert org.sync().api_calls == 0


@pytest.mark.parametrize("bulk_threshold", [2000, 1], ids=["collections", "bulk"])
def test_a_create_whose_reply_was_lost_updates_the_entry_it_made(database_url, sb, bulk_threshold) -> None:
    """A crash after Salesforce created the entries and before zensync recorded them: the rerun's create finds
    them (upsert on Zenskar_Id__c), Salesforce refuses their create-only fields in what is now an update, and the
    adapter sends it again without them: the same records, no duplicate, no failure (through Collections, and
    through a streamed Bulk job above the threshold)."""
    org = Org(database_url, sb, 2, bulk_threshold=bulk_threshold)
    assert org.sync().failed == 0
    made = {key: org.outcomes(1)[key]["external_id"] for key in ("monthly_entry", "yearly_entry")}
    org.set(1, monthly_amount=1200)  # and the catalog moved on meanwhile
    with org.engine.begin() as connection:  # the outcomes never recorded: intents left pending, no id
        connection.execute(update(mappings).where(mappings.c.catalog == "plans", mappings.c.internal_id.in_(["1", "2"]),
                                                  mappings.c.object_type.in_(list(made)))
                           .values(status="pending", external_id=None))
    healed = org.sync()
    assert (healed.failed, healed.created) == (0, 4)
    assert {key: org.outcomes(1)[key]["external_id"] for key in made} == made
    entries = org.entries()
    assert len(entries) == 4 and entries["1:monthly_entry"]["UnitPrice"] == 12.0
    assert org.sync().api_calls == 0


@pytest.mark.parametrize("bulk_threshold", [2000, 1], ids=["collections", "bulk"])
def test_a_plan_moved_to_another_currency_gets_new_entries_and_its_old_ones_are_deactivated(database_url, sb,
                                                                                           bulk_threshold) -> None:
    """Salesforce sets an entry's currency on create only and keeps one entry per product, price book and
    currency: the old entries are deactivated (quotes may use them) and give their Zenskar_Id__c to new ones; a
    plan moved back takes its old entries back instead of failing with DUPLICATE_VALUE."""
    org = Org(database_url, sb, 3, bulk_threshold=bulk_threshold)
    assert org.sync().failed == 0
    keys = ("monthly_entry", "yearly_entry")
    first = {key: org.outcomes(2)[key]["external_id"] for key in keys}
    was = org.entries()["2:monthly_entry"]["CurrencyIsoCode"]
    now = "EUR" if was != "EUR" else "GBP"

    def plan_entries() -> list[dict[str, Any]]:
        return [e for e in org.entries().values() if e["Product2"]["Zenskar_Id__c"] == "2"]

    org.set(2, currency=now.lower())
    moved = org.sync()
    assert (moved.updated, moved.created, moved.failed) == (2, 0, 0)
    second = {key: org.outcomes(2)[key]["external_id"] for key in keys}
    assert not set(second.values()) & set(first.values())
    entries = org.entries()
    for key in keys:
        entry = entries[f"2:{key}"]
        assert (entry["CurrencyIsoCode"], entry["IsActive"]) == (now, True)
    assert entries["2:yearly_entry"]["UnitPrice"] == 290.0  # Team 1's yearly price, now in the new currency
    retired = [e for e in plan_entries() if e["CurrencyIsoCode"] == was]
    assert len(retired) == 2 and not any(e["IsActive"] for e in retired)
    assert all(e["Zenskar_Id__c"].startswith(("2:monthly_entry~", "2:yearly_entry~")) for e in retired)
    assert org.sync().api_calls == 0

    org.set(2, currency=was.lower())  # back: the entries retired in that currency come back, no third pair
    back = org.sync()
    assert (back.updated, back.failed) == (2, 0)
    assert {key: org.outcomes(2)[key]["external_id"] for key in keys} == first
    entries = plan_entries()
    assert len(entries) == 4
    assert sorted((e["CurrencyIsoCode"], e["IsActive"]) for e in entries) == sorted(
        [(was, True), (was, True), (now, False), (now, False)])
    assert org.sync().api_calls == 0
    assert {e["Zenskar_Id__c"] for e in org.entries().values() if e["IsActive"]} >= {"2:monthly_entry",
                                                                                    "2:yearly_entry"}


def test_entries_written_before_they_could_be_replaced_are_updated_once_never_replaced(sqlite_url, sb) -> None:
    """The upgrade: mappings written when PricebookEntry was not replace_on_change hold the fingerprint of the
    updatable fields alone. The first run updates each entry once (recording the two-part fingerprint) instead of
    deactivating every entry of the price book and creating it again."""
    from zensync_pipelines.engine.payload import fingerprint
    from zensync_pipelines.engine.plan import plan_row
    from zensync_pipelines.engine.same_row import object_named, split

    org = Org(sqlite_url, sb, 2)
    assert org.sync().failed == 0
    keys = ("monthly_entry", "yearly_entry")
    made = {(plan_id, key): org.outcomes(plan_id)[key]["external_id"] for plan_id in (1, 2) for key in keys}
    rows = next(CatalogTables(org.engine).iter_chunks(SPEC, Selection(), 10))
    with org.engine.begin() as connection:
        for row in rows:
            states = {name: state for (_, name), state in
                      org.mappings.load_states("plans", "salesforce", [str(row["id"])]).items()}
            for op in plan_row(SPEC, "salesforce", row, {"Product2": states["Product2"]}).operations:
                if op.object_type in keys:
                    legacy = fingerprint(split(object_named(SPEC, "salesforce", op.object_type), op.payload)[0])
                    connection.execute(update(mappings).where(
                        mappings.c.catalog == "plans", mappings.c.internal_id == str(row["id"]),
                        mappings.c.object_type == op.object_type).values(fingerprint=legacy))
    upgraded = org.sync()
    assert (upgraded.updated, upgraded.created, upgraded.failed) == (4, 0, 0)
    assert {(plan_id, key): org.outcomes(plan_id)[key]["external_id"] for plan_id, key in made} == made
    entries = org.entries()
    assert len(entries) == 4 and all(e["IsActive"] for e in entries.values())
    assert org.sync().api_calls == 0
