"""A value set back to an earlier one (A -> B -> A) reaches the system, through a real sync against the sandboxes,
on both databases: each step one write, a crash between the call and its bookkeeping reruns under the same key,
and the read-back finds no drift afterwards (issue: the write-key data loss; engine/keys.py)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import stripe
from sqlalchemy import update

from zensync_pipelines.catalogs import load_specs
from zensync_pipelines.dagster_defs.drift import run_read_back
from zensync_pipelines.demo.seed import seed_customers
from zensync_pipelines.demo.tables import customers
from zensync_pipelines.store import migrate
from zensync_pipelines.store.catalog import CatalogTables
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines.systems.stripe import StripeAdapter

from ..chaos.worker import sync

ROOT = Path(__file__).resolve().parents[2]
SPEC = {spec.name: spec for spec in load_specs()}["customers"]
KEY = "sk_test_write_keys"
ROW = "3"


@pytest.fixture
def target(database_url, stripe_sandbox):
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    seed_customers(engine, 3)
    engine.dispose()
    return {"system": "stripe", "api_key": KEY, "url": stripe_sandbox.url, "database_url": database_url}


def set_city(target, city):
    engine = make_engine(target["database_url"])
    with engine.begin() as connection:
        connection.execute(update(customers).where(customers.c.id == int(ROW))
                           .values(city=city, updated_at=dt.datetime.now(dt.timezone.utc)))
    engine.dispose()


def mapping(target):
    engine = make_engine(target["database_url"])
    [row] = MappingStore(engine).rows("customers", "stripe", internal_id=ROW)
    engine.dispose()
    return row


def client(target):
    return stripe.StripeClient(KEY, base_addresses={"api": target["url"]}, max_network_retries=0)


def city_in_stripe(target):
    return client(target).v1.customers.retrieve(mapping(target)["external_id"]).address.city


def writes(target):
    """Changes Stripe made to the customer: one `customer.updated` event per update that wrote (a replayed request
    writes nothing and emits nothing)."""
    events = client(target).v1.events.list(params={"type": "customer.updated", "limit": 100}).data
    return [e for e in events if e.data.object.id == mapping(target)["external_id"]]


def step(target, city):
    set_city(target, city)
    report = sync(target, [ROW])
    assert (report.updated, report.failed, report.api_calls) == (1, 0, 1), report.counts()
    assert city_in_stripe(target) == city
    assert mapping(target)["status"] == "synced"


@pytest.mark.parametrize("cities", [["Alpha", "Beta", "Alpha"], ["Alpha", "Beta", "Alpha", "Beta"]])
def test_every_step_of_a_value_set_back_is_one_write(target, cities):
    sync(target, [ROW])  # created with the seed's city
    for number, city in enumerate(cities, start=1):
        step(target, city)
        assert len(writes(target)) == number
        assert mapping(target)["write_seq"] == number + 1  # the create was intent 1
    assert [e.data.object.address.city for e in reversed(writes(target))] == cities


def test_a_crash_between_the_third_write_and_its_bookkeeping_reruns_under_the_same_key(target, stripe_sandbox):
    sync(target, [ROW])
    step(target, "Alpha")
    step(target, "Beta")
    set_city(target, "Alpha")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    crashed = subprocess.run([sys.executable, "-m", "zensync_pipelines_tests.write_keys.crash_worker",
                              json.dumps(target), json.dumps([ROW])], env=env, timeout=120)
    assert crashed.returncode == -9
    assert city_in_stripe(target) == "Alpha" and len(writes(target)) == 3  # written, not recorded
    assert (mapping(target)["status"], mapping(target)["write_seq"]) == ("pending", 4)
    keys_before = set(stripe_sandbox.idempotency.dump())

    report = sync(target, [ROW])  # the rerun: the same intent, so the same key, and Stripe replays its answer
    assert (report.updated, report.failed) == (1, 0)
    assert set(stripe_sandbox.idempotency.dump()) == keys_before  # no key the crashed run did not send
    assert len(writes(target)) == 3 and city_in_stripe(target) == "Alpha"
    assert (mapping(target)["status"], mapping(target)["write_seq"]) == ("synced", 4)

    engine = make_engine(target["database_url"])
    adapter = StripeAdapter(KEY, target["url"], rate_limit_per_second=1000, max_network_retries=0)
    drift = run_read_back(SPEC, "stripe", adapter, engine, CatalogTables(engine), MappingStore(engine))
    engine.dispose()
    assert drift.drift == 0 and drift.in_sync == drift.checked == 1  # the one row synced

    step(target, "Beta")  # and the next intent is a new one again
    assert len(writes(target)) == 4
