"""The Stripe adapter under the failures that matter: lost replies, 500s, rate limits, concurrent runs.

Each test ends with the invariant of the brief: one Stripe customer per valid row, never two.
"""

import datetime as dt
from collections import Counter

import pytest
import stripe

from zensync_pipelines.catalogs import load_specs
from zensync_pipelines.demo.seed import seed_customers
from zensync_pipelines.engine.sync import Selection, sync
from zensync_pipelines.store import migrate
from zensync_pipelines.store.catalog import CatalogTables
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines.systems.stripe import StripeAdapter

SPEC = {spec.name: spec for spec in load_specs()}["customers"]
KEY = "sk_test_reliability"


@pytest.fixture
def catalog(sqlite_url):
    engine = make_engine(sqlite_url)
    migrate.upgrade(engine)
    seed_customers(engine, 60)
    return engine


def run(engine, url, run_id, **adapter_options):
    options = {"rate_limit_per_second": 500, "max_network_retries": 0} | adapter_options
    adapter = StripeAdapter(KEY, url, **options)
    return sync(SPEC, "stripe", CatalogTables(engine), MappingStore(engine), adapter, run_id, Selection())


def customers_per_row(url):
    client = stripe.StripeClient(KEY, base_addresses={"api": url})
    found = client.v1.customers.list(params={"limit": 100}).auto_paging_iter()
    return Counter(c.metadata["zenskar_id"] for c in found)


def valid_rows(engine):
    return {m["internal_id"] for m in MappingStore(engine).rows("customers", "stripe")
            if m["status"] != "invalid"}


def test_lost_replies_are_healed_without_duplicates(catalog, stripe_sandbox):
    # "drop_after": Stripe performed the write, the reply never arrived.
    stripe_sandbox.configure(fault_rate=0.3, fault_kinds=["drop_after"], seed=7)
    first = run(catalog, stripe_sandbox.url, "r1")
    assert first.failed > 4  # beyond the seed's 4 invalid rows (7, 23, 41, 57): the lost replies
    stripe_sandbox.configure(fault_rate=0.0)
    second = run(catalog, stripe_sandbox.url, "r2")
    assert second.failed == 4 and first.created + second.created == 56
    counts = customers_per_row(stripe_sandbox.url)
    assert set(counts) == valid_rows(catalog) and max(counts.values()) == 1


def test_sdk_retries_reuse_the_derived_key_so_replays_are_not_duplicates(catalog, stripe_sandbox):
    stripe_sandbox.configure(fault_rate=0.3, fault_kinds=["drop_after"], seed=3)
    report = run(catalog, stripe_sandbox.url, "r1", max_network_retries=4)
    assert report.failed == 4 and report.created == 56  # only the seed's invalid rows fail
    counts = customers_per_row(stripe_sandbox.url)
    assert len(counts) == 56 and max(counts.values()) == 1
    assert report.api_calls > 56  # the retries happened and were counted


def test_a_replayed_500_is_retried_under_a_new_key_after_a_lookup(catalog, stripe_sandbox):
    stripe_sandbox.configure(fault_rate=0.25, fault_kinds=["api_error"], seed=11)
    first = run(catalog, stripe_sandbox.url, "r1", max_network_retries=2)
    failed = {m["internal_id"] for m in MappingStore(catalog).rows("customers", "stripe", status="failed")}
    assert failed, "the seed must produce some 500s"
    assert all(m["attempts"] == 1 for m in MappingStore(catalog).rows("customers", "stripe", status="failed"))
    stripe_sandbox.configure(fault_rate=0.0)
    second = run(catalog, stripe_sandbox.url, "r2")
    assert second.created == len(failed) and second.failed == 4  # the invalid rows only
    assert second.api_calls == 3 * len(failed)  # per retried row: list by email, search, then create
    counts = customers_per_row(stripe_sandbox.url)
    assert len(counts) == first.created + second.created == 56 and max(counts.values()) == 1


def test_rate_limited_requests_are_retried_until_everything_is_written(catalog, stripe_sandbox):
    stripe_sandbox.configure(rate_limit=25)
    report = run(catalog, stripe_sandbox.url, "r1", rate_limit_per_second=200, rate_limit_retries=8)
    assert report.failed == 4 and report.created == 56
    assert sum(customers_per_row(stripe_sandbox.url).values()) == 56


def test_an_invalid_key_stops_the_run_without_leaking_it(catalog, stripe_sandbox):
    report = sync(SPEC, "stripe", CatalogTables(catalog), MappingStore(catalog),
                  StripeAdapter("not-a-key-SECRET123", stripe_sandbox.url, max_network_retries=0), "r1", Selection())
    assert report.outage and "STRIPE_API_KEY" in report.outage and "SECRET123" not in report.outage
    assert report.failed == 4 and report.created == 0  # only the local verdicts on the seed's invalid rows
    assert report.api_calls <= StripeAdapter("sk_test_x", stripe_sandbox.url).max_concurrency
    pending = MappingStore(catalog).rows("customers", "stripe", status="pending")
    assert pending, "intents stay on record so the next run checks before creating"
    assert not MappingStore(catalog).rows("customers", "stripe", status="failed", failure_kind="transient")


def test_an_unreachable_stripe_stops_the_run_early_and_leaves_untouched_rows_alone(catalog, stripe_sandbox):
    from zensync_pipelines_tests.conftest import free_port

    run(catalog, stripe_sandbox.url, "r1")  # everything synced once
    with catalog.begin() as connection:  # every row changes, then Stripe goes away
        connection.exec_driver_sql("UPDATE customers SET phone = '+15550000000'")
    report = run(catalog, f"http://127.0.0.1:{free_port()}", "r2", max_network_retries=1, rate_limit_per_second=20)
    assert report.outage and "unavailable" in report.outage and "consecutive" in report.outage
    # 10 failed requests open the breaker (2 per row: one SDK retry), plus what the 8 threads had in flight.
    assert report.updated == 0 and report.failed <= 4 + 5 + 8 and report.deferred >= 40
    assert report.api_calls <= 10 + 2 * 8  # was 2 requests (one SDK retry) for each of the 56 rows
    rows = MappingStore(catalog).rows("customers", "stripe")
    failed = [r for r in rows if r["status"] == "failed"]
    assert failed and all(r["failure_kind"] == "transient" and r["next_retry_at"] for r in failed)
    assert sum(r["status"] == "pending" for r in rows) >= 40  # untouched: not failed, the next run takes them
    healed = run(catalog, stripe_sandbox.url, "r3")
    assert healed.outage is None and healed.failed == 4
    counts = customers_per_row(stripe_sandbox.url)
    assert len(counts) == 56 and max(counts.values()) == 1


def test_a_500_stored_under_the_key_is_recovered_inside_the_run(catalog, stripe_sandbox):
    from zensync_pipelines.engine.plan import plan_row

    rows = next(CatalogTables(catalog).iter_chunks(SPEC, Selection(ids=["1", "2"]), 10))
    ops = [plan_row(SPEC, "stripe", row, {}).operations[0] for row in rows]
    handler = StripeAdapter(KEY, stripe_sandbox.url, max_network_retries=0).handler("customer")
    stripe_sandbox.configure(fault_rate=1.0, fault_kinds=["api_error"])
    for op in ops:  # a crashed earlier run: Stripe stored a 500 under each row's first key
        with pytest.raises(stripe.APIError):
            handler.create(op.internal_id, op.payload, op.idempotency_key)
    stripe_sandbox.configure(fault_rate=0.0)
    report = run(catalog, stripe_sandbox.url, "r1", max_network_retries=2)
    assert report.failed == 4 and report.created == 56  # the replayed 500s healed in this run, not the next
    counts = customers_per_row(stripe_sandbox.url)
    assert len(counts) == 56 and max(counts.values()) == 1


def test_failures_are_scheduled_by_kind(catalog, stripe_sandbox):
    """500s are transient (retried later); Stripe refusing a write is permanent (retried when the row changes).
    The refusal: customers deleted in Stripe whose rows then change (an update answers 404 resource_missing)."""
    run(catalog, stripe_sandbox.url, "r0")
    store = MappingStore(catalog)
    gone = sorted((m for m in store.rows("customers", "stripe", status="synced")), key=lambda m: int(m["internal_id"]))
    gone = {m["internal_id"]: m["external_id"] for m in gone[:6]}
    client = stripe.StripeClient(KEY, base_addresses={"api": stripe_sandbox.url})
    for external_id in gone.values():
        client.v1.customers.delete(external_id)
    with catalog.begin() as connection:
        connection.exec_driver_sql("UPDATE customers SET phone = '+15550000001', updated_at = CURRENT_TIMESTAMP")
    stripe_sandbox.configure(fault_rate=0.5, fault_kinds=["api_error"], seed=5)
    run(catalog, stripe_sandbox.url, "r1", max_network_retries=0)
    failed = store.rows("customers", "stripe", status="failed")
    transient = [r for r in failed if r["failure_kind"] == "transient"]
    permanent = [r for r in failed if r["failure_kind"] == "permanent"]
    assert transient and all(r["next_retry_at"] is not None for r in transient)
    # A deleted customer's update fails for good unless both its tries met a 500 (odds 1/4 each, 1/4096 for all).
    assert permanent and all(r["next_retry_at"] is None for r in permanent)
    assert {r["internal_id"] for r in permanent} <= set(gone)
    assert {r["last_error_code"] for r in permanent} == {"resource_missing"}
    assert {r["internal_id"] for r in store.rows("customers", "stripe", status="invalid")} == {"7", "23", "41", "57"}
    earliest = store.next_retry("customers", "stripe")
    assert earliest is not None and earliest.tzinfo is not None
    assert store.due_retries("customers", "stripe") == []  # not before their time
    later = earliest + dt.timedelta(hours=2)
    assert set(store.due_retries("customers", "stripe", now=later)) == {r["internal_id"] for r in transient}
