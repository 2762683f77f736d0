"""Webhook delivery to a real local receiver that verifies signatures with stripe.Webhook.construct_event."""

from __future__ import annotations

import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable, Iterator

import pytest
import requests
import stripe

from zensync_pipelines.sandbox.stripe import StripeSandbox


class Receiver:
    """Records what arrives; `fail_first` makes the first N deliveries answer 500."""

    def __init__(self) -> None:
        self.secret = ""
        self.fail_first = 0
        self.verified: list[stripe.Event] = []
        self.raw: list[tuple[bytes, str]] = []
        self.received = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver.received:
                    receiver.raw.append((body, self.headers["Stripe-Signature"]))
                    status = 500 if receiver.fail_first > 0 else 200
                    receiver.fail_first -= 1
                    if status == 200:
                        try:
                            receiver.verified.append(stripe.Webhook.construct_event(
                                body, self.headers["Stripe-Signature"], receiver.secret))
                        except stripe.SignatureVerificationError:
                            status = 400
                    receiver.received.notify_all()
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def wait_for(self, condition: Callable[[], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        with self.received:
            while not condition():
                left = deadline - time.monotonic()
                assert left > 0, "timed out waiting for webhook deliveries"
                self.received.wait(left)


def wait_until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.005)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def endpoint(client: stripe.StripeClient, receiver: Receiver) -> stripe.WebhookEndpoint:
    created = client.v1.webhook_endpoints.create({"url": receiver.url, "enabled_events": [
        "customer.created", "customer.updated", "customer.deleted"]})
    receiver.secret = created.secret
    return created


def test_endpoint_api_shows_the_secret_only_on_create(client: stripe.StripeClient,
                                                      endpoint: stripe.WebhookEndpoint) -> None:
    assert endpoint.secret.startswith("whsec_") and endpoint.id.startswith("we_")
    fetched = client.v1.webhook_endpoints.retrieve(endpoint.id)
    assert "secret" not in fetched.to_dict()
    updated = client.v1.webhook_endpoints.update(endpoint.id, {"enabled_events": ["invoice.paid"]})
    assert updated.enabled_events == ["invoice.paid"]
    assert [e.id for e in client.v1.webhook_endpoints.list().data] == [endpoint.id]
    assert client.v1.webhook_endpoints.delete(endpoint.id).deleted is True


def test_events_are_delivered_signed_and_verifiable(client: stripe.StripeClient, receiver: Receiver,
                                                    endpoint: stripe.WebhookEndpoint) -> None:
    customer = client.v1.customers.create({"email": "hook@example.com"})
    client.v1.customers.update(customer.id, {"name": "Hook"})
    client.v1.invoices.create({"customer": customer.id})  # not subscribed: must not arrive
    receiver.wait_for(lambda: len(receiver.verified) >= 2)
    assert [e.type for e in receiver.verified] == ["customer.created", "customer.updated"]
    assert receiver.verified[1].data.previous_attributes.name is None
    listed = client.v1.events.list({"type": "customer.created"}).data[0]
    assert listed.id == receiver.verified[0].id


def test_tampered_body_and_stale_timestamp_fail_verification(client: stripe.StripeClient, receiver: Receiver,
                                                             endpoint: stripe.WebhookEndpoint,
                                                             clock) -> None:
    client.v1.customers.create({"email": "a@example.com"})
    receiver.wait_for(lambda: len(receiver.raw) == 1)
    body, signature = receiver.raw[0]
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body.replace(b"a@example.com", b"b@example.com"), signature, receiver.secret)
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, signature, "whsec_wrong")
    clock.advance(-3600)  # the sandbox signs with its clock: an hour-old timestamp is outside the tolerance
    receiver.fail_first = 1  # the receiver records the raw delivery without verifying it
    client.v1.customers.create({"email": "late@example.com"})
    receiver.wait_for(lambda: len(receiver.raw) == 2)
    with pytest.raises(stripe.SignatureVerificationError, match="Timestamp outside the tolerance zone"):
        stripe.Webhook.construct_event(receiver.raw[1][0], receiver.raw[1][1], receiver.secret)


def test_failed_deliveries_are_retried_with_backoff(client: stripe.StripeClient, sandbox: StripeSandbox,
                                                    receiver: Receiver, endpoint: stripe.WebhookEndpoint) -> None:
    receiver.fail_first = 2
    customer = client.v1.customers.create({"email": "retry@example.com"})
    receiver.wait_for(lambda: len(receiver.verified) == 1)
    wait_until(lambda: len(sandbox.webhooks.attempts) == 3)  # the sandbox logs an attempt once the reply is in
    attempts = [a for a in sandbox.webhooks.attempts if a["endpoint"] == endpoint.id]
    assert [(a["attempt"], a["status"]) for a in attempts] == [(1, 500), (2, 500), (3, 200)]
    event = client.v1.events.list({"type": "customer.created"}).data[0]
    assert event.data.object.id == customer.id and event.pending_webhooks == 0


def test_unreachable_endpoint_is_retried_then_given_up(client: stripe.StripeClient, sandbox: StripeSandbox) -> None:
    sandbox.configure(webhook_max_attempts=3, webhook_retry_base=0.01)
    dead = client.v1.webhook_endpoints.create({"url": "http://127.0.0.1:9/nothing", "enabled_events": ["*"]})
    client.v1.customers.create({"email": "void@example.com"})
    wait_until(lambda: len(sandbox.webhooks.attempts) == 3)
    attempts = [a for a in sandbox.webhooks.attempts if a["endpoint"] == dead.id]
    assert [a["attempt"] for a in attempts] == [1, 2, 3] and all(a["error"] for a in attempts)
    assert client.v1.events.list().data[0].pending_webhooks == 1


def test_duplicate_and_out_of_order_knobs(client: stripe.StripeClient, sandbox: StripeSandbox,
                                          receiver: Receiver, endpoint: stripe.WebhookEndpoint) -> None:
    sandbox.configure(webhook_paused=True, webhook_out_of_order=True, webhook_duplicate_rate=1.0)
    created = [client.v1.customers.create({"email": f"c{i}@example.com"}).id for i in range(6)]
    time.sleep(0.05)
    assert receiver.raw == []  # paused: everything waits in the queue
    sandbox.configure(webhook_paused=False)
    receiver.wait_for(lambda: len(receiver.verified) == 12)
    delivered = [e.data.object.id for e in receiver.verified]
    assert sorted(set(delivered)) == sorted(created) and all(delivered.count(i) == 2 for i in created)
    first_seen = list(dict.fromkeys(delivered))
    assert first_seen != created  # seeded shuffle: a receiver must not rely on creation order


def test_events_list_filters(client: stripe.StripeClient, clock) -> None:
    customer = client.v1.customers.create({"email": "e@example.com"})
    clock.advance(5)
    client.v1.customers.update(customer.id, {"name": "E"})
    invoice = client.v1.invoices.create({"customer": customer.id})
    types = lambda params: [e.type for e in client.v1.events.list(params).auto_paging_iter()]  # noqa: E731
    assert types({"type": "customer.*"}) == ["customer.updated", "customer.created"]
    assert types({"types": ["invoice.created", "customer.created"]}) == ["invoice.created", "customer.created"]
    assert types({"created": {"gte": invoice.created}}) == ["invoice.created", "customer.updated"]
    event = client.v1.events.list({"type": "invoice.created"}).data[0]
    assert client.v1.events.retrieve(event.id).data.object.id == invoice.id
    assert event.request.id.startswith("req_")


def test_signature_header_is_stripes_test_mode_header(client: stripe.StripeClient, receiver: Receiver,
                                                      endpoint: stripe.WebhookEndpoint) -> None:
    client.v1.customers.create({"email": "sig@example.com"})
    receiver.wait_for(lambda: len(receiver.verified) == 1)
    _, header = receiver.raw[0]
    schemes = [part.split("=", 1)[0] for part in header.split(",")]
    assert schemes == ["t", "v1", "v0"]  # test mode adds a v0 from an unrelated key, which verifiers ignore
    v0 = header.split("v0=")[1]
    assert v0 != header.split("v1=")[1].split(",")[0]


def test_delay_knob_holds_each_first_delivery(client: stripe.StripeClient, sandbox: StripeSandbox,
                                              receiver: Receiver, endpoint: stripe.WebhookEndpoint) -> None:
    sandbox.configure(webhook_delay=0.2)
    client.v1.customers.create({"email": "late@example.com"})
    receiver.wait_for(lambda: len(receiver.verified) == 1)
    wait_until(lambda: len(sandbox.webhooks.attempts) == 1)
    assert sandbox.webhooks.attempts[0]["waited"] >= 0.2


def test_lost_deliveries_are_retried_until_every_event_arrives_once(
        client: stripe.StripeClient, sandbox: StripeSandbox, receiver: Receiver,
        endpoint: stripe.WebhookEndpoint) -> None:
    sandbox.configure(webhook_failure_rate=0.5, webhook_max_attempts=30, webhook_retry_base=0.001)
    created = [client.v1.customers.create({"email": f"lost{i}@example.com"}).id for i in range(8)]
    receiver.wait_for(lambda: len(receiver.verified) == 8)
    assert sorted(e.data.object.id for e in receiver.verified) == sorted(created)
    lost = [a for a in sandbox.webhooks.attempts if not a["ok"]]
    assert lost and all(a["error"].startswith("injected") and a["status"] is None for a in lost)
    assert len(receiver.raw) == 8  # a lost attempt never reached the receiver


def test_a_rolled_secret_signs_alongside_the_new_one_until_it_expires(
        client: stripe.StripeClient, sandbox: StripeSandbox, receiver: Receiver, endpoint: stripe.WebhookEndpoint,
        clock) -> None:
    old = receiver.secret
    rolled = requests.post(f"{sandbox.url}/_sandbox/webhook_endpoints/roll_secret",
                           json={"endpoint": endpoint.id, "expires_in": 3600}).json()
    assert rolled["secret"].startswith("whsec_") and rolled["secret"] != old
    client.v1.customers.create({"email": "during@example.com"})
    receiver.wait_for(lambda: len(receiver.verified) == 1)  # the receiver still verifies with the old secret
    body, header = receiver.raw[0]
    assert header.count("v1=") == 2
    stripe.Webhook.construct_event(body, header, rolled["secret"])
    clock.advance(3601)
    receiver.secret = rolled["secret"]
    client.v1.customers.create({"email": "after@example.com"})
    receiver.wait_for(lambda: len(receiver.verified) == 2)
    body, header = receiver.raw[1]
    assert header.count("v1=") == 1
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(body, header, old, tolerance=None)


def test_concurrent_delivery_threads_deliver_everything(client: stripe.StripeClient, receiver: Receiver) -> None:
    with StripeSandbox(rate_limit=None, webhook_concurrency=4) as sb:
        fast = stripe.StripeClient("sk_test_x", base_addresses={"api": sb.url}, max_network_retries=0)
        receiver.secret = fast.v1.webhook_endpoints.create({"url": receiver.url, "enabled_events": ["*"]}).secret
        sb.configure(webhook_paused=True)
        created = {fast.v1.customers.create({"email": f"m{i}@example.com"}).id for i in range(20)}
        assert len(sb.webhooks._threads) == 4
        sb.configure(webhook_paused=False)
        receiver.wait_for(lambda: len(receiver.verified) == 20)
        assert {e.data.object.id for e in receiver.verified} == created


def test_deliveries_go_to_the_endpoint_as_it_is_now(client: stripe.StripeClient, sandbox: StripeSandbox,
                                                    receiver: Receiver) -> None:
    sandbox.configure(webhook_paused=True)
    endpoint = client.v1.webhook_endpoints.create({"url": "http://127.0.0.1:9/old", "enabled_events": ["*"]})
    receiver.secret = endpoint.secret
    client.v1.customers.create({"email": "moved@example.com"})
    client.v1.webhook_endpoints.update(endpoint.id, {"url": receiver.url})  # fixed before the queue drained
    sandbox.configure(webhook_paused=False)
    receiver.wait_for(lambda: len(receiver.verified) == 1)
    sandbox.configure(webhook_paused=True)
    client.v1.customers.create({"email": "orphan@example.com"})
    client.v1.webhook_endpoints.delete(endpoint.id)
    sandbox.configure(webhook_paused=False)
    wait_until(lambda: len(sandbox.webhooks.attempts) == 2)
    assert [a["ok"] for a in sandbox.webhooks.attempts] == [True, False]
    assert sandbox.webhooks.attempts[-1]["error"] == "endpoint deleted" and len(receiver.raw) == 1
