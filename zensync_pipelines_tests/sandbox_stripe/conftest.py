"""Fixtures for the Stripe sandbox suite: a sandbox on a free port and the real SDK pointed at it."""

from __future__ import annotations

from typing import Iterator

import pytest
import requests
import stripe

from zensync_pipelines.sandbox.stripe import ManualClock, StripeSandbox

stripe.enable_telemetry = False

KEY = "sk_test_zensync"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()  # starts at the real time, so webhook signatures pass the SDK's 300 s tolerance


@pytest.fixture
def sandbox(clock: ManualClock) -> Iterator[StripeSandbox]:
    # Unlimited rate so functional tests never trip the bucket; the rate-limit tests dial it in themselves.
    with StripeSandbox(rate_limit=None, clock=clock, webhook_retry_base=0.05) as sb:
        yield sb


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
