"""Rate limiting, write locks, seeded faults, latency, counters and the /_sandbox/ control endpoints."""

from __future__ import annotations

import threading
import time

import pytest
import requests
import stripe

from zensync_pipelines.sandbox.stripe import ManualClock, StripeSandbox

from .conftest import KEY, client_for


def test_token_bucket_answers_429_rate_limit(sandbox: StripeSandbox, clock: ManualClock) -> None:
    sandbox.configure(rate_limit=5)
    client = client_for(sandbox)
    outcomes = []
    for _ in range(8):
        try:
            client.v1.customers.list()
            outcomes.append("ok")
        except stripe.RateLimitError as error:
            outcomes.append(error.error.code)  # RateLimitError leaves .code empty; the body has it
    assert outcomes == ["ok"] * 5 + ["rate_limit"] * 3  # a burst of 5, then the bucket is empty
    clock.advance(0.25)  # a 5/s bucket refills one token per 200 ms
    assert client.v1.customers.list().object == "list"


def test_default_rate_limit_is_stripes_test_mode_25_per_second() -> None:
    clock = ManualClock()
    with StripeSandbox(clock=clock) as sb:
        assert sb.knobs.rate_limit == 25
        session = requests.Session()
        replies = [session.get(f"{sb.url}/v1/customers", auth=(KEY, "")).status_code for _ in range(30)]
        clock.advance(0.2)  # refills 5 tokens
        later = [session.get(f"{sb.url}/v1/customers", auth=(KEY, "")).status_code for _ in range(6)]
    assert replies == [200] * 25 + [429] * 5
    assert later == [200] * 5 + [429]


def test_concurrent_writes_to_one_object_get_lock_timeout(client: stripe.StripeClient,
                                                          sandbox: StripeSandbox) -> None:
    customer = client.v1.customers.create({"email": "busy@example.com"})
    sandbox.configure(write_hold_ms=300, lock_wait_ms=20)
    errors: list[stripe.StripeError] = []

    def write(name: str) -> None:
        try:
            client_for(sandbox).v1.customers.update(customer.id, {"name": name})
        except stripe.RateLimitError as error:
            errors.append(error)

    threads = [threading.Thread(target=write, args=(f"n{i}",)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 1
    assert (errors[0].http_status, errors[0].error.code) == (429, "lock_timeout")
    assert errors[0].headers["Stripe-Should-Retry"] == "true"


def _fault_sequence(seed: int) -> list[int]:
    with StripeSandbox(rate_limit=None, fault_rate=0.5, seed=seed, fault_kinds=("api_error", "rate_limit")) as sb:
        return [requests.get(f"{sb.url}/v1/customers", auth=(KEY, "")).status_code for _ in range(30)]


def test_faults_are_deterministic_under_a_seed() -> None:
    first, again, other = _fault_sequence(7), _fault_sequence(7), _fault_sequence(8)
    assert first == again
    assert first != other
    assert {200, 429, 500} == set(first)


def test_dropped_connection_raises_api_connection_error(sandbox: StripeSandbox) -> None:
    sandbox.configure(fault_rate=1.0, fault_kinds=["drop"])
    with pytest.raises(stripe.APIConnectionError):
        client_for(sandbox).v1.customers.create({"email": "x@example.com"}, {"idempotency_key": "dropped"})
    sandbox.configure(fault_rate=0.0)
    assert client_for(sandbox).v1.customers.list().data == []  # dropped before the endpoint ran


def test_latency_knob_delays_replies(client: stripe.StripeClient, sandbox: StripeSandbox) -> None:
    sandbox.configure(latency_ms=120)
    started = time.monotonic()
    client.v1.customers.list()
    assert time.monotonic() - started >= 0.12


def test_counters_python_api_and_control_endpoints(client: stripe.StripeClient, sandbox: StripeSandbox) -> None:
    customer = client.v1.customers.create({"email": "count@example.com"})
    client.v1.customers.retrieve(customer.id)
    client.v1.customers.retrieve(customer.id)
    assert sandbox.counters.snapshot() == {"POST /v1/customers": 1, "GET /v1/customers/{id}": 2}
    over_http = requests.get(f"{sandbox.url}/_sandbox/counters").json()
    assert over_http == sandbox.counters.snapshot()  # control endpoints are not counted themselves
    requests.post(f"{sandbox.url}/_sandbox/reset")
    assert sandbox.counters.total() == 0
    knobs = requests.post(f"{sandbox.url}/_sandbox/knobs", json={"latency_ms": 0, "fault_rate": 0.25}).json()
    assert knobs["fault_rate"] == 0.25 and sandbox.knobs.fault_rate == 0.25
    assert requests.get(f"{sandbox.url}/_sandbox/webhooks").json() == {"attempts": []}


def test_unknown_knob_is_refused(sandbox: StripeSandbox) -> None:
    with pytest.raises(ValueError):
        sandbox.configure(fault_kinds=["meteor"])
    with pytest.raises(ValueError):
        sandbox.configure(no_such_knob=1)
