"""Fixtures for the Stripe sandbox suite: a sandbox on a free port and the real SDK pointed at it."""

from __future__ import annotations

import json
from typing import Any, Iterator

import pytest
import requests
import stripe

from zensync_pipelines.sandbox.core import Request, Response
from zensync_pipelines.sandbox.stripe import ManualClock, StripeSandbox

from .contract import problems

stripe.enable_telemetry = False

KEY = "sk_test_zensync"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()  # starts at the real time, so webhook signatures pass the SDK's 300 s tolerance


Served = list[tuple[str, int, Any]]  # (route, status, JSON body) of every reply


def record(sb: StripeSandbox) -> Served:
    """Keep every API reply `sb` gives from now on, with the route that gave it."""
    replies: Served = []
    dispatch = sb.dispatch

    def recording(request: Request) -> Response:
        response = dispatch(request)
        _, pattern, _, _ = sb.router.match(request.method, request.path)
        body = response.body
        if isinstance(body, (bytes, str)) and response.content_type == "application/json":
            body = json.loads(body or "null")
        replies.append((f"{request.method} {pattern or request.path}", response.status, body))
        return response

    sb.dispatch = recording  # type: ignore[method-assign]
    return replies


@pytest.fixture
def sandbox(clock: ManualClock) -> Iterator[StripeSandbox]:
    # Unlimited rate so functional tests never trip the bucket; the rate-limit tests dial it in themselves.
    with StripeSandbox(rate_limit=None, clock=clock, webhook_retry_base=0.05) as sb:
        replies = record(sb)
        yield sb
    # Every object any test of this folder was served keeps Stripe's contract (contract.py, test_contract.py).
    broken = sorted({p for route, status, body in replies if status < 300 and route.split()[1].startswith("/v1/")
                     for p in problems(body, route)})
    assert not broken, "objects served that break Stripe's contract:\n" + "\n".join(broken[:40])


def client_for(sb: StripeSandbox, retries: int = 0) -> stripe.StripeClient:
    return stripe.StripeClient(KEY, base_addresses={"api": sb.url}, max_network_retries=retries)


@pytest.fixture
def client(sandbox: StripeSandbox) -> stripe.StripeClient:
    return client_for(sandbox)


@pytest.fixture
def raw(sandbox: StripeSandbox) -> requests.Session:
    """A plain HTTP session, for what the SDK hides: headers, replays, malformed requests."""
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {KEY}"
    session.trust_env = False
    return session
