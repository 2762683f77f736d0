"""Polling /v1/events into the inbox through the real SDK against the sandbox: nothing missed, nothing twice."""

from __future__ import annotations

from typing import Iterator

import pytest
import stripe
from sqlalchemy import Engine

from zensync_pipelines.sandbox.stripe import ManualClock, StripeSandbox
from zensync_pipelines.store import migrate
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.inbox import InboxStore
from zensync_pipelines.store.state import StateStore
from zensync_pipelines.systems.base import Backoff
from zensync_pipelines.systems.stripe import StripeAdapter
from zensync_pipelines.systems.stripe.inbound import event_types, to_inbox_event
from zensync_pipelines.systems.stripe.polling import CURSOR_KEY, SCOPE, poll_events

KEY = "sk_test_polling"
ROUTES = {"customer": "customers", "invoice": "invoices"}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def sandbox(clock: ManualClock) -> Iterator[StripeSandbox]:
    with StripeSandbox(rate_limit=None, clock=clock) as sb:
        yield sb


@pytest.fixture
def lite(tmp_path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'inbox.db'}")
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


def adapter_for(sb: StripeSandbox) -> StripeAdapter:
    return StripeAdapter(KEY, sb.url, rate_limit_per_second=1000, max_network_retries=0)


def human(sb: StripeSandbox) -> stripe.StripeClient:
    return stripe.StripeClient(KEY, base_addresses={"api": sb.url}, max_network_retries=0)


def listed_ids(client: stripe.StripeClient, object_types: list[str]) -> set[str]:
    params = {"types": event_types(object_types), "limit": 100}
    return {event.id for event in client.v1.events.list(params).auto_paging_iter()}


def poll(sb: StripeSandbox, engine: Engine, routes=ROUTES, **options):
    return poll_events(adapter_for(sb), InboxStore(engine), StateStore(engine), routes, **options)


def some_activity(client: stripe.StripeClient) -> None:
    customer = client.v1.customers.create({"email": "a@example.com", "metadata": {"zenskar_id": "1"}})
    client.v1.customers.update(customer.id, {"phone": "+1 555 0100"})
    invoice = client.v1.invoices.create({"customer": customer.id, "metadata": {"zenskar_id": "9"}})
    client.v1.invoices.add_lines(invoice.id, {"lines": [{"amount": 700}]})  # invoiceitem.created: not read
    client.v1.invoices.finalize_invoice(invoice.id)
    client.v1.invoices.pay(invoice.id, {"paid_out_of_band": True})
    client.v1.products.create({"name": "Not synced"})  # product.created: not read


def test_events_nobody_received_reach_the_inbox_once(sandbox: StripeSandbox, engine: Engine) -> None:
    client = human(sandbox)
    client.v1.webhook_endpoints.create({"url": "http://127.0.0.1:9/down", "enabled_events": ["*"]})
    sandbox.configure(webhook_max_attempts=1)
    some_activity(client)
    expected = listed_ids(client, ["customer", "invoice"])
    assert client.v1.events.list({"type": "customer.created"}).data[0].pending_webhooks == 1  # never delivered

    first = poll(sandbox, engine)
    rows = InboxStore(engine).rows(system="stripe")
    assert {row["event_id"] for row in rows} == expected and first.stored == len(expected)
    assert {row["source"] for row in rows} == {"poll"}
    assert {row["catalog"] for row in rows if row["event_type"].startswith("invoice.")} == {"invoices"}
    assert (first.calls, first.pages, first.duplicates) == (1, 1, 0)

    again = poll(sandbox, engine)  # idle: one call, nothing new
    assert (again.calls, again.stored, len(InboxStore(engine).rows())) == (1, 0, len(expected))
    assert StateStore(engine).get(SCOPE, CURSOR_KEY)["newest_event_id"] in expected


def test_pages_and_restarts_lose_nothing(sandbox: StripeSandbox, lite: Engine, clock: ManualClock) -> None:
    client = human(sandbox)
    for i in range(7):
        client.v1.customers.create({"email": f"c{i}@example.com"})
        clock.advance(1)
    result = poll(sandbox, lite, page_size=3)
    assert (result.pages, result.calls, result.stored) == (3, 3, 7)

    clock.advance(3600)  # later, after a restart: fresh adapter and stores, the cursor comes from the database
    late = [client.v1.customers.create({"email": f"late{i}@example.com"}).id for i in range(4)]
    result = poll(sandbox, lite, page_size=3)
    assert result.stored == 4 and result.window_start is not None and result.window_start > 0
    stored = {row["external_id"] for row in InboxStore(lite).rows(event_type="customer.created")}
    assert set(late) <= stored and len(stored) == 11


def test_a_crash_between_pages_rereads_the_window(sandbox: StripeSandbox, lite: Engine) -> None:
    client = human(sandbox)
    for i in range(5):
        client.v1.customers.create({"email": f"c{i}@example.com"})

    class CrashingInbox(InboxStore):
        def add(self, events):
            super().add(events)
            raise RuntimeError("worker killed after the first page")

    with pytest.raises(RuntimeError):
        poll_events(adapter_for(sandbox), CrashingInbox(lite), StateStore(lite), ROUTES, page_size=2)
    assert StateStore(lite).get(SCOPE, CURSOR_KEY) is None  # the cursor moves only after the last page
    assert len(InboxStore(lite).rows()) == 2
    result = poll(sandbox, lite, page_size=2)
    assert (result.stored, result.duplicates) == (3, 2) and len(InboxStore(lite).rows()) == 5


def test_the_overlap_catches_an_event_listed_after_a_newer_one(sandbox: StripeSandbox, lite: Engine,
                                                               clock: ManualClock) -> None:
    client = human(sandbox)
    clock.advance(60)
    client.v1.customers.create({"email": "newer@example.com"})
    poll(sandbox, lite)
    clock.advance(-30)  # an event stamped 30 s before the newest one seen, becoming listable only now
    straggler = client.v1.customers.create({"email": "straggler@example.com"})
    result = poll(sandbox, lite)
    assert result.stored == 1
    assert InboxStore(lite).rows(external_id=straggler.id)[0]["event_type"] == "customer.created"


def test_webhook_deliveries_and_polls_share_the_event_id(sandbox: StripeSandbox, lite: Engine) -> None:
    client = human(sandbox)
    client.v1.customers.create({"email": "both@example.com"})
    event = client.v1.events.list({"type": "customer.created"}).data[0].to_dict(for_json=True)
    assert InboxStore(lite).add([to_inbox_event(event, ROUTES, source="webhook")]) == 1
    result = poll(sandbox, lite)
    assert (result.fetched, result.stored, result.duplicates) == (1, 0, 1)
    assert [row["source"] for row in InboxStore(lite).rows()] == ["webhook"]


def test_types_read_since_the_last_poll_get_the_whole_retention(sandbox: StripeSandbox, lite: Engine,
                                                                clock: ManualClock) -> None:
    client = human(sandbox)
    customer = client.v1.customers.create({"email": "x@example.com"})
    client.v1.invoices.create({"customer": customer.id})
    clock.advance(3600)
    client.v1.customers.update(customer.id, {"name": "X"})
    assert poll(sandbox, lite, routes={"customer": "customers"}).stored == 2
    result = poll(sandbox, lite)  # a catalog now reads invoices too: their older events are not skipped
    assert result.stored == 1 and InboxStore(lite).rows(catalog="invoices")[0]["event_type"] == "invoice.created"


def test_first_poll_can_start_later_and_an_outage_fails_the_poll(sandbox: StripeSandbox, lite: Engine,
                                                                 clock: ManualClock) -> None:
    client = human(sandbox)
    client.v1.customers.create({"email": "old@example.com"})
    clock.advance(100)
    recent = client.v1.customers.create({"email": "new@example.com"})
    result = poll(sandbox, lite, initial_since=recent.created)
    assert result.stored == 1 and InboxStore(lite).rows()[0]["external_id"] == recent.id
    url, cursor = sandbox.url, StateStore(lite).get(SCOPE, CURSOR_KEY)
    sandbox.stop()
    down = StripeAdapter(KEY, url, rate_limit_per_second=1000, max_network_retries=0)
    with pytest.raises(stripe.APIConnectionError):
        poll_events(down, InboxStore(lite), StateStore(lite), ROUTES)
    assert StateStore(lite).get(SCOPE, CURSOR_KEY) == cursor


def test_rate_limits_and_server_errors_are_retried_without_losing_a_page(sandbox: StripeSandbox, lite: Engine,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    # The SDK's own retry sleeps (0.5 s and up) shortened; what is retried and how often stays the SDK's.
    monkeypatch.setattr(stripe._http_client.HTTPClient, "INITIAL_DELAY", 0.001)
    monkeypatch.setattr(stripe._http_client.HTTPClient, "MAX_DELAY", 0.001)
    client = human(sandbox)
    for i in range(9):
        client.v1.customers.create({"email": f"f{i}@example.com"})
    sandbox.configure(fault_rate=0.4, fault_kinds=["api_error", "rate_limit", "drop"], seed=7)
    adapter = StripeAdapter(KEY, sandbox.url, rate_limit_per_second=1000, max_network_retries=8)
    adapter.backoff = Backoff(retries=20, base_seconds=0.001, max_seconds=0.001)
    result = poll_events(adapter, InboxStore(lite), StateStore(lite), ROUTES, page_size=2)
    assert result.stored == 9 and result.pages == 5
    assert result.calls > result.pages  # the retries are counted as the calls they are
