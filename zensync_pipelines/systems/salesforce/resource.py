"""The Dagster resource for Salesforce: configuration (secrets through EnvVar), an adapter per run."""

from __future__ import annotations

import os
from typing import Any, Optional

from dagster import ConfigurableResource, EnvVar
from pydantic import Field

from ... import config
from ..base import Backoff
from .adapter import SalesforceAdapter
from .auth import Credentials

# Resource field -> environment variable; a public interface (docs/salesforce.md lists them).
ENVIRONMENT = {
    "login_url": config.SALESFORCE_LOGIN_URL,
    "client_id": config.SALESFORCE_CLIENT_ID,
    "client_secret": config.SALESFORCE_CLIENT_SECRET,
    "username": config.SALESFORCE_USERNAME,
    "password": config.SALESFORCE_PASSWORD,
    "security_token": config.SALESFORCE_SECURITY_TOKEN,
    "refresh_token": config.SALESFORCE_REFRESH_TOKEN,
    "ca_bundle": config.SALESFORCE_CA_BUNDLE,
    "instance_url": config.SALESFORCE_INSTANCE_URL,
    "session_id": config.SALESFORCE_SESSION_ID,
    "api_version": config.SALESFORCE_API_VERSION,
}
SECRETS = {"client_secret", "password", "security_token", "session_id", "refresh_token"}


class SalesforceResource(ConfigurableResource):
    """Salesforce API access. Set secrets from `EnvVar(...)` so they never show in the UI or run config.

    Which fields are set picks the login: client id + secret (+ username and password: OAuth password grant,
    else client credentials), username + password (+ security token: SOAP login), or session id + instance URL.
    """

    login_url: str = Field(default=config.SALESFORCE_DEFAULT_LOGIN_URL,
                           description="Where to log in: login/test.salesforce.com, a My Domain URL, the sandbox")
    auth_flow: str = Field(default="auto", description="auto, soap, oauth_password, oauth_client_credentials, "
                                                       "oauth_refresh_token or session")
    client_id: Optional[str] = Field(default=None, description="Connected app consumer key")
    client_secret: Optional[str] = Field(default=None, description="Connected app consumer secret")
    username: Optional[str] = None
    password: Optional[str] = None
    security_token: Optional[str] = Field(default=None, description="Appended to the password when logging in")
    refresh_token: Optional[str] = Field(default=None, description="With client_id: the connected app's OAuth "
                                                                   "refresh token for the org")
    instance_url: Optional[str] = Field(default=None, description="With session_id: use an existing session")
    session_id: Optional[str] = Field(default=None, description="An access token; renewed from the credentials "
                                                                "above on expiry when they are set")
    ca_bundle: Optional[str] = Field(default=None, description="CA file to verify TLS against (ignores "
                                                               "REQUESTS_CA_BUNDLE when set)")
    api_version: str = Field(default=config.SALESFORCE_DEFAULT_API_VERSION, description="REST API version")
    bulk_threshold: int = Field(default=2000, description="More upserts than this in a batch go through Bulk 2.0")
    batch_size: int = Field(default=1_000_000, description="Operations the engine gathers per batch, spooled to "
                                                           "disk: one Bulk job per object for each (per 100 MB "
                                                           "of CSV), intents committed before it, outcomes as "
                                                           "its results are read")
    budget_share: float = Field(default=0.9, description="Stop the run before this share of the daily API "
                                                         "allocation is used")
    max_retries: int = Field(default=4, description="Retries of 5xx, dropped connections and locked rows")
    retry_base_seconds: float = Field(default=0.5, description="First backoff delay; doubles per retry")
    retry_max_seconds: float = 8.0
    bulk_poll_seconds: float = Field(default=0.25, description="First wait before polling a Bulk job; each "
                                                               "next wait is 1.5x longer, up to 10 s")
    timeout_seconds: float = 120.0

    def __repr_args__(self) -> Any:
        # A resource printed in a log or a traceback must not show its secrets.
        return [(name, "***" if name in SECRETS and value else value) for name, value in super().__repr_args__()]

    def credentials(self) -> Credentials:
        return Credentials(login_url=self.login_url, flow=self.auth_flow, username=self.username,
                           password=self.password, security_token=self.security_token, client_id=self.client_id,
                           client_secret=self.client_secret, session_id=self.session_id,
                           instance_url=self.instance_url, refresh_token=self.refresh_token)

    def adapter(self) -> SalesforceAdapter:
        return self.adapter_for(self.credentials())

    def adapter_for(self, credentials: Credentials) -> SalesforceAdapter:
        """An adapter logging in with `credentials` (a tenant's org, systems/tenant_access.py) and this
        deployment's tuning: API version, CA bundle, bulk threshold, budget share, retries, timeouts."""
        backoff = Backoff(self.max_retries, self.retry_base_seconds, self.retry_max_seconds)
        return SalesforceAdapter(credentials, self.api_version, self.ca_bundle, self.bulk_threshold,
                                 self.batch_size, self.budget_share, backoff, self.bulk_poll_seconds,
                                 self.timeout_seconds)


def salesforce_resource_from_env(**overrides: Any) -> SalesforceResource:
    """The resource with an `EnvVar` for each SALESFORCE_* variable that is set (read at launch, masked in the
    UI); unset ones keep their defaults, so a code location loads even before Salesforce is configured."""
    values: dict[str, Any] = {name: EnvVar(variable) for name, variable in ENVIRONMENT.items()
                              if os.environ.get(variable)}
    return SalesforceResource(**(values | overrides))
