"""Stripe's error envelope, statuses and headers, and the SDK exception each one becomes."""

from __future__ import annotations

import pytest
import requests
import stripe

from zensync_pipelines.sandbox.stripe import StripeSandbox


@pytest.mark.parametrize("authorization", [None, "Bearer pk_test_public", "Bearer sk_live_real", "Token abc"])
def test_missing_or_malformed_key_is_a_401(sandbox: StripeSandbox, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    reply = requests.get(f"{sandbox.url}/v1/customers", headers=headers)
    assert reply.status_code == 401
    error = reply.json()["error"]
    assert error["type"] == "invalid_request_error" and error["message"]
    assert reply.headers["Request-Id"].startswith("req_")


def test_sdk_raises_authentication_error(sandbox: StripeSandbox) -> None:
    client = stripe.StripeClient("sk_live_nope", base_addresses={"api": sandbox.url}, max_network_retries=0)
    with pytest.raises(stripe.AuthenticationError):
        client.v1.customers.list()


def test_basic_auth_like_curl_is_accepted(sandbox: StripeSandbox) -> None:
    reply = requests.get(f"{sandbox.url}/v1/customers", auth=("sk_test_curl", ""))
    assert reply.status_code == 200 and reply.json()["object"] == "list"


@pytest.mark.parametrize("params, code, param", [
    ({"favourite_colour": "blue"}, "parameter_unknown", "favourite_colour"),
    ({"email": "not-an-email"}, "email_invalid", "email"),
    ({"balance": "ten"}, "parameter_invalid_integer", "balance"),
    ({"metadata": {"k" * 41: "v"}}, "parameter_invalid_string", f"metadata[{'k' * 41}]"),
])
def test_validation_errors(client: stripe.StripeClient, params: dict, code: str, param: str) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.create(params)
    assert (raised.value.http_status, raised.value.code, raised.value.param) == (400, code, param)
    assert raised.value.headers["Stripe-Should-Retry"] == "false"
    assert raised.value.error.type == "invalid_request_error"
    assert client.v1.customers.list().data == []  # nothing was created


def test_missing_required_parameter(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.webhook_endpoints.create({"enabled_events": ["*"]})
    assert (raised.value.code, raised.value.param) == ("parameter_missing", "url")


def test_unknown_object_is_resource_missing_on_id(client: stripe.StripeClient) -> None:
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.customers.retrieve("cus_doesnotexist0")
    assert (raised.value.http_status, raised.value.code, raised.value.param) == (404, "resource_missing", "id")
    assert "cus_doesnotexist0" in raised.value.user_message


def test_unknown_url_answers_stripe_shape(raw: requests.Session, sandbox: StripeSandbox) -> None:
    reply = raw.get(f"{sandbox.url}/v1/not_a_resource")
    assert reply.status_code == 404
    assert reply.json()["error"]["message"].startswith("Unrecognized request URL (GET: /v1/not_a_resource)")
    assert reply.headers["Request-Id"].startswith("req_")


def test_every_reply_has_a_distinct_request_id(raw: requests.Session, sandbox: StripeSandbox) -> None:
    ids = {raw.get(f"{sandbox.url}/v1/customers").headers["Request-Id"] for _ in range(5)}
    assert len(ids) == 5 and all(i.startswith("req_") for i in ids)
