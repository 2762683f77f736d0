"""Idle sensor ticks that wait for a write (dagster_defs/waking.py): a change committed while a tick waits is seen
within a fraction of a second, by the same tick, instead of at the daemon's next look 0-5 s later; a tick with
nothing to do ends within its wait. On SQLite the watch stats the files, on PostgreSQL it is notified by triggers
(store/test_pg_wake.py tests that signal itself); a database with neither ends a tick at once, as before."""

import asyncio
import datetime as dt
import threading
import time

import pytest
from sqlalchemy import update

from zensync_pipelines.dagster_defs import waking
from zensync_pipelines.dagster_defs.settings import AutomationSettings
from zensync_pipelines.demo.tables import customers
from zensync_pipelines.inbound.pgasync import AsyncInbox
from zensync_pipelines.store.inbox import InboxStore, NewInboundEvent
from zensync_pipelines.store import migrate, wake_triggers
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.wake import FileWatch, close_watches

from .harness import Harness

SENSOR, INBOX = "customers_changes", "customers_stripe_inbox"
WAIT = 3.0  # the code location's default


def _harness(url, stripe_sandbox_url, tmp_path, monkeypatch):
    # Each test's sensors start with the whole wait: a budget carried over from the previous test, ticked more
    # than 7.5 s before, would read as a tick the daemon skipped and shrink.
    monkeypatch.setattr(waking, "_budgets", {})
    settings = AutomationSettings(sensor_overlap_seconds=300, sensor_wait_seconds=WAIT)
    harness = Harness(url, stripe_sandbox_url, 10, settings, str(tmp_path / "dagster"))
    yield harness
    close_watches()  # the PostgreSQL listener's connection, before the test's schema goes
    harness.engine.dispose()


@pytest.fixture
def harness(database_url, stripe_sandbox_url, tmp_path, monkeypatch):
    yield from _harness(database_url, stripe_sandbox_url, tmp_path, monkeypatch)


@pytest.fixture
def postgres_harness(postgres_url, stripe_sandbox_url, tmp_path, monkeypatch):
    yield from _harness(postgres_url, stripe_sandbox_url, tmp_path, monkeypatch)


def _change_later(url: str, seconds: float) -> threading.Thread:
    """Another connection pool (as the catalog's application is another process) changes row 3 after a while."""
    def change():
        time.sleep(seconds)
        engine = make_engine(url)
        with engine.begin() as connection:
            connection.execute(update(customers).where(customers.c.id == 3).values(
                phone="+15550003333", updated_at=dt.datetime.now(dt.timezone.utc)))
        engine.dispose()
    thread = threading.Thread(target=change)
    thread.start()
    return thread


def test_a_change_during_an_idle_tick_is_seen_by_that_tick(harness, database_url):
    if database_url.startswith("postgresql"):  # the catalog's owner opted in: `zensync db upgrade --wake-triggers`
        engine = make_engine(database_url)
        migrate.upgrade(engine)  # as `zensync db upgrade --wake-triggers` does first (the trigger's function)
        [outcome] = wake_triggers.install(engine, ["customers"])
        assert outcome.state == wake_triggers.ADDED, outcome.line
        engine.dispose()
    first = harness.tick(SENSOR)
    assert first.run_requests  # the first tick asks for every row; the cursor now sits on the seed
    began = time.monotonic()
    idle = harness.tick(SENSOR, first.cursor)
    assert not idle.run_requests and WAIT - 0.2 <= time.monotonic() - began < WAIT + 2  # waited, then ended

    writer = _change_later(database_url, 0.8)
    began = time.monotonic()
    woken = harness.tick(SENSOR, first.cursor)
    seen_after = time.monotonic() - began
    writer.join()
    [request] = woken.run_requests
    assert request.job_name == "sync_customers_stripe"
    assert 0.8 <= seen_after < 0.8 + 1.0  # within the watch's 0.1 s step or a NOTIFY and one query, not at the end


def test_without_its_trigger_a_postgresql_catalog_tick_ends_at_once_and_zensync_adds_none(postgres_harness,
                                                                                          postgres_url):
    """The wake trigger is the catalog owner's choice (it makes notifying commits take turns): a sensor never adds
    one, and without it an idle tick does not wait, as before waking."""
    first = postgres_harness.tick(SENSOR)
    assert first.run_requests
    began = time.monotonic()
    assert not postgres_harness.tick(SENSOR, first.cursor).run_requests
    assert time.monotonic() - began < WAIT - 0.5
    engine = make_engine(postgres_url)
    assert [o.state for o in wake_triggers.install(engine, ["customers"], add=False)] == [wake_triggers.NOT_ADDED]
    engine.dispose()


def test_a_webhook_stored_during_an_idle_inbox_tick_on_postgresql_is_seen_by_that_tick(postgres_harness):
    """The receiver's raw psycopg2 INSERT (inbound/pgasync.py) notifies through the inbox's own trigger (on SQLite
    the inbox is in the watched files like the catalog)."""
    harness = postgres_harness
    inbox = AsyncInbox(InboxStore(harness.engine), harness.engine)
    event = NewInboundEvent("stripe", "evt_1", "customer.updated", "customers", "customer", "cus_3",
                            dt.datetime.now(dt.timezone.utc), "{}")
    began = time.monotonic()
    assert not harness.tick(INBOX).run_requests and WAIT - 0.2 <= time.monotonic() - began < WAIT + 2

    def receive():
        time.sleep(0.8)
        asyncio.run(inbox.add_new([event]))
    writer = threading.Thread(target=receive)
    writer.start()
    began = time.monotonic()
    woken = harness.tick(INBOX)
    seen_after = time.monotonic() - began
    writer.join()
    assert len(woken.run_requests) == 1 and 0.8 <= seen_after < 0.8 + 1.0
    for connection in inbox._idle:
        connection.close()


def test_the_watch_sees_another_process_commit_and_only_then(sqlite_url):
    engine = make_engine(sqlite_url)
    from zensync_pipelines.demo.seed import seed_customers

    seed_customers(engine, 3)
    watch = FileWatch(sqlite_url)
    assert watch.can_wait
    stamp = watch.stamp()
    assert not watch.wait(stamp, time.monotonic() + 0.5)  # nothing written: waits it out
    writer = _change_later(sqlite_url, 0.3)
    assert watch.wait(stamp, time.monotonic() + 5)
    writer.join()
    engine.dispose()


def test_a_database_without_a_write_signal_does_not_wait():
    watch = FileWatch("mysql+pymysql://zensync@127.0.0.1/catalog")
    assert not watch.can_wait
    began = time.monotonic()
    assert not watch.wait(watch.stamp(), time.monotonic() + 3)
    assert time.monotonic() - began < 0.1


def test_a_sensor_skipped_by_the_daemon_waits_less_and_grows_back():
    """The daemon looks every 5 s; a tick still waiting at a look is skipped, so the next one starts ~10 s later."""
    from zensync_pipelines.dagster_defs.waking import WaitBudget

    budget = WaitBudget(3.0)
    assert budget.start(100.0) == 3.0
    assert budget.start(105.0) == 3.0  # on time: stays at most
    assert budget.start(115.0) == 2.5  # a look skipped it
    assert budget.start(125.0) == 2.0
    assert budget.start(130.0) == pytest.approx(2.1)  # on time again: grows back a little per tick
    for n in range(30):
        budget.start(135.0 + 5 * n)
    assert budget.seconds == 3.0
    for n in range(30):
        budget.start(300.0 + 10 * n)
    assert budget.seconds == 1.0  # never below a second
