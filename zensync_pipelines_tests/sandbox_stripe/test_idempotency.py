"""Idempotency-Key semantics as Stripe documents them: replay, mismatch, 24 h pruning, and what is not stored."""

from __future__ import annotations

import pytest
import requests
import stripe

from zensync_pipelines.sandbox.stripe import StripeSandbox

from .conftest import client_for


def test_replay_returns_the_first_result_with_the_replay_header(raw: requests.Session,
                                                                 sandbox: StripeSandbox) -> None:
    headers = {"Idempotency-Key": "row-42-create"}
    first = raw.post(f"{sandbox.url}/v1/customers", data={"email": "a@example.com"}, headers=headers)
    again = raw.post(f"{sandbox.url}/v1/customers", data={"email": "a@example.com"}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert again.headers["Original-Request"] == first.headers["Request-Id"] != again.headers["Request-Id"]
    assert len(raw.get(f"{sandbox.url}/v1/customers").json()["data"]) == 1


def test_sdk_call_with_the_same_key_creates_one_customer(client: stripe.StripeClient) -> None:
    options = {"idempotency_key": "zenskar:customers:42:create"}
    first = client.v1.customers.create({"email": "a@example.com"}, options)
    second = client.v1.customers.create({"email": "a@example.com"}, options)
    assert first.id == second.id
    assert second.last_response.headers["Idempotent-Replayed"] == "true"


def test_same_key_with_other_parameters_or_path_is_an_idempotency_error(client: stripe.StripeClient) -> None:
    options = {"idempotency_key": "k1"}
    customer = client.v1.customers.create({"email": "a@example.com"}, options)
    with pytest.raises(stripe.IdempotencyError) as raised:
        client.v1.customers.create({"email": "b@example.com"}, options)
    assert raised.value.http_status == 400 and raised.value.error.type == "idempotency_error"
    with pytest.raises(stripe.IdempotencyError):
        client.v1.customers.update(customer.id, {"email": "a@example.com"}, options)


def test_keys_expire_after_24_hours(client: stripe.StripeClient, clock) -> None:
    options = {"idempotency_key": "daily"}
    first = client.v1.customers.create({"email": "a@example.com"}, options)
    clock.advance(24 * 3600 - 1)
    assert client.v1.customers.create({"email": "a@example.com"}, options).id == first.id
    clock.advance(2)
    assert client.v1.customers.create({"email": "a@example.com"}, options).id != first.id


def test_a_500_is_stored_and_replayed(client: stripe.StripeClient, sandbox: StripeSandbox) -> None:
    sandbox.configure(fault_rate=1.0, fault_kinds=["api_error"])
    options = {"idempotency_key": "unlucky"}
    with pytest.raises(stripe.APIError) as first:
        client.v1.customers.create({"email": "a@example.com"}, options)
    assert first.value.http_status == 500 and first.value.headers["Stripe-Should-Retry"] == "true"
    sandbox.configure(fault_rate=0.0)
    with pytest.raises(stripe.APIError) as replayed:
        client.v1.customers.create({"email": "a@example.com"}, options)
    assert replayed.value.headers["Idempotent-Replayed"] == "true"
    assert client.v1.customers.list().data == []  # the 500 came before the endpoint ran
    assert client.v1.customers.create({"email": "a@example.com"}, {"idempotency_key": "fresh"}).id


def test_validation_failures_are_not_stored(raw: requests.Session, sandbox: StripeSandbox) -> None:
    headers = {"Idempotency-Key": "bad-email"}
    for _ in range(2):
        reply = raw.post(f"{sandbox.url}/v1/customers", data={"email": "nope"}, headers=headers)
        assert reply.status_code == 400 and "Idempotent-Replayed" not in reply.headers


def test_rate_limited_requests_are_not_stored(raw: requests.Session, sandbox: StripeSandbox) -> None:
    sandbox.configure(rate_limit=1)
    headers = {"Idempotency-Key": "throttled"}
    replies = [raw.post(f"{sandbox.url}/v1/customers", data={"name": "x"}, headers=headers) for _ in range(3)]
    assert [r.status_code for r in replies[:2]] == [200, 429]
    assert replies[1].json()["error"]["code"] == "rate_limit"
    sandbox.configure(rate_limit=None)
    after = raw.post(f"{sandbox.url}/v1/customers", data={"name": "x"}, headers=headers)
    assert after.headers["Idempotent-Replayed"] == "true" and after.json()["id"] == replies[0].json()["id"]


def test_connection_dropped_after_the_write_heals_with_a_keyed_retry(sandbox: StripeSandbox) -> None:
    sandbox.configure(fault_rate=1.0, fault_kinds=["drop_after"])
    client = client_for(sandbox, retries=1)
    customer = client.v1.customers.create({"email": "a@example.com"}, {"idempotency_key": "lost-reply"})
    assert customer.last_response.headers["Idempotent-Replayed"] == "true"
    sandbox.configure(fault_rate=0.0)
    assert [c.id for c in client.v1.customers.list().data] == [customer.id]
