"""POST /webhooks/stripe over real HTTP: abuse refused with nothing stored, the sandbox's deliveries stored once."""

import json
import time

import pytest
import requests
from sqlalchemy.engine import make_url

from zensync_pipelines.demo.tables import customers
from zensync_pipelines.sandbox.stripe.webhooks import sign
from zensync_pipelines.store import migrate
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.inbox import InboxStore

from .helpers import add_customers, by_hand, inbound, push, row, stripe_id
from .receiver import Proxy, receiver

SECRET, OLD_SECRET = "whsec_current", "whsec_rotated_out"
EVENT = {"id": "evt_1", "object": "event", "type": "customer.updated", "created": 1764590400,
         "request": {"id": None, "idempotency_key": None}, "data": {"object": {
             "id": "cus_1", "object": "customer", "email": "a@example.com", "metadata": {"zenskar_id": "1"}}}}


def post(url, body, secret=SECRET, timestamp=None, content_type="application/json", signature=True):
    body = body if isinstance(body, str) else json.dumps(body)
    headers = {"Content-Type": content_type}
    if signature:
        headers["Stripe-Signature"] = sign(body, [secret], int(timestamp or time.time()))
    return requests.post(f"{url}/webhooks/stripe", data=body.encode(), headers=headers, timeout=10)


@pytest.fixture
def sqlite_engine(sqlite_url):
    engine = make_engine(sqlite_url)
    migrate.upgrade(engine)
    return engine


@pytest.mark.parametrize("case, status, reason", [
    ("missing signature", 400, "missing Stripe-Signature"),
    ("wrong secret", 400, "bad signature"),
    ("tampered body", 400, "bad signature"),
    ("stale timestamp", 400, "signature timestamp outside the 300 s tolerance"),
    ("not JSON", 400, "body is not a Stripe event"),
    ("over-size", 413, "body over"),
    ("wrong content type", 415, "content type must be application/json"),
])
def test_abuse_is_refused_with_a_short_reason_and_nothing_stored(sqlite_engine, case, status, reason, caplog):
    with receiver(sqlite_engine, [OLD_SECRET, SECRET], max_body_bytes=4096) as url:
        if case == "missing signature":
            answer = post(url, EVENT, signature=False)
        elif case == "wrong secret":
            answer = post(url, EVENT, secret="whsec_guess")
        elif case == "tampered body":
            body = json.dumps(EVENT)
            headers = {"Content-Type": "application/json", "Stripe-Signature": sign(body, [SECRET], int(time.time()))}
            answer = requests.post(f"{url}/webhooks/stripe", data=body.replace("a@", "b@"), headers=headers)
        elif case == "stale timestamp":
            answer = post(url, EVENT, timestamp=time.time() - 301)
        elif case == "not JSON":
            answer = post(url, "customer.updated cus_1")
        elif case == "over-size":
            answer = post(url, EVENT | {"padding": "x" * 5000})
        else:
            answer = post(url, EVENT, content_type="text/plain")
        assert (answer.status_code, answer.json()["error"][:len(reason)]) == (status, reason)
        assert InboxStore(sqlite_engine).rows() == []
        assert post(url, EVENT, secret=OLD_SECRET).status_code == 200  # either secret of a rotation passes
    assert SECRET not in caplog.text and "a@example.com" not in caplog.text


def test_duplicates_are_acknowledged_once_stored_and_unread_types_dropped(sqlite_engine):
    with receiver(sqlite_engine, [SECRET]) as url:
        assert post(url, EVENT).json() == {"stored": 1}
        assert post(url, EVENT).json() == {"stored": 0}
        assert post(url, EVENT | {"id": "evt_2", "type": "customer.discount.created"}).json()["ignored"] is True
        price = {"id": "evt_3", "type": "price.created", "created": 1, "data": {"object": {"object": "price"}}}
        assert post(url, price).status_code == 200
        assert requests.get(f"{url}/healthz", timeout=5).json()["database"] == "ok"
    assert [e["event_id"] for e in InboxStore(sqlite_engine).rows()] == ["evt_1"]


def test_the_database_down_is_a_503_and_the_sandbox_delivers_again(postgres_url, stripe_sandbox, stripe_sandbox_url):
    url = make_url(postgres_url)
    proxy = Proxy(url.port or 5432)
    engine = make_engine(url.set(port=proxy.port).render_as_string(hide_password=False))
    migrate.upgrade(engine)
    add_customers(engine, 2)
    push(engine, stripe_sandbox_url)
    stripe_sandbox.knobs.webhook_retry_base = 0.2
    client = by_hand(stripe_sandbox_url)
    endpoint = client.v1.webhook_endpoints.create(params={"url": "http://127.0.0.1:9/",
                                                          "enabled_events": ["customer.updated"]})
    with receiver(engine, [endpoint.secret]) as base:
        client.v1.webhook_endpoints.update(endpoint.id, params={"url": f"{base}/webhooks/stripe"})
        ids = [stripe_id(engine, "customers", n) for n in (1, 2)]
        proxy.down()
        for n, external in enumerate(ids, start=1):
            client.v1.customers.update(external, params={"phone": f"+1444000{n}"})
        deadline = time.monotonic() + 20
        while not any(a["status"] == 503 for a in stripe_sandbox.webhooks.attempts):
            assert time.monotonic() < deadline, stripe_sandbox.webhooks.attempts
            time.sleep(0.05)
        proxy.up()
        while stripe_sandbox.webhooks.pending() or sum(a["ok"] for a in stripe_sandbox.webhooks.attempts) < 2:
            assert time.monotonic() < deadline, stripe_sandbox.webhooks.attempts
            time.sleep(0.05)
    assert len(InboxStore(engine).rows(event_type="customer.updated")) == 2
    inbound(engine, stripe_sandbox_url)
    assert [row(engine, customers, n)["phone"] for n in (1, 2)] == ["+14440001", "+14440002"]
    engine.dispose()
    proxy.down()
