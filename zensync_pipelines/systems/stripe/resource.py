"""The Dagster resource for Stripe: configuration from the environment, an adapter per run."""

from __future__ import annotations

import os
from typing import Optional

from dagster import ConfigurableResource, EnvVar
from pydantic import Field

from ... import config
from ...config import STRIPE_DEFAULT_BASE
from .adapter import StripeAdapter


class StripeResource(ConfigurableResource):
    """Stripe API access. Set `api_key` from `EnvVar("STRIPE_API_KEY")` so the key never shows in the UI."""

    api_key: str = Field(description="Secret key (sk_test_... or sk_live_...)")
    api_base: str = Field(default=STRIPE_DEFAULT_BASE, description="API base URL; the sandbox's URL locally")
    rate_limit_per_second: float = Field(default=20.0, description="Client-side limit; test mode allows 25/s")
    max_concurrency: Optional[int] = Field(default=None, description="Requests in flight at once; by default "
                                           "enough to reach the rate limit at 0.4 s a request")
    max_network_retries: int = Field(default=2, description="SDK retries on 5xx and connection errors")
    timeout_seconds: float = 30.0

    def adapter(self) -> StripeAdapter:
        return StripeAdapter(self.api_key, self.api_base, self.rate_limit_per_second, self.max_concurrency,
                             self.max_network_retries, self.timeout_seconds)

    def adapter_for(self, api_key: str, stripe_account: Optional[str]) -> StripeAdapter:
        """A tenant's adapter (systems/tenant_access.py gives the key and the connected account): this
        deployment's API base and limits, the tenant's key or `Stripe-Account`; the resource's own key unused."""
        return StripeAdapter(api_key, self.api_base, self.rate_limit_per_second, self.max_concurrency,
                             self.max_network_retries, self.timeout_seconds, stripe_account=stripe_account)


def stripe_resource_from_env() -> StripeResource:
    """The key always through `EnvVar` (read at launch, never shown); the base URL from the environment if set."""
    base = EnvVar(config.STRIPE_API_BASE) if os.environ.get(config.STRIPE_API_BASE) else config.STRIPE_DEFAULT_BASE
    return StripeResource(api_key=EnvVar(config.STRIPE_API_KEY), api_base=base)
