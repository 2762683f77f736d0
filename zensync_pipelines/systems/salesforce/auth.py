"""Logging in to Salesforce: SOAP (username + password + security token), OAuth 2.0 (password, client credentials,
or a connected app's refresh token, what a multi-org integration keeps per org), or an existing session.

Every failure here is re-raised as `SalesforceAuthError` with the server's code and description only, and with any
configured secret blanked out, because these messages end up in Dagster's event log.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import requests
from simple_salesforce import SalesforceLogin
from simple_salesforce.exceptions import SalesforceAuthenticationFailed

from ... import config
from ...engine.failures import Outage

# The setting -> the environment variable a user sets for it (what error messages name).
VARIABLES = {"username": config.SALESFORCE_USERNAME, "password": config.SALESFORCE_PASSWORD,
             "client_id": config.SALESFORCE_CLIENT_ID, "client_secret": config.SALESFORCE_CLIENT_SECRET,
             "refresh_token": config.SALESFORCE_REFRESH_TOKEN}
SESSION, SOAP, OAUTH_PASSWORD, OAUTH_CLIENT_CREDENTIALS = "session", "soap", "oauth_password", \
    "oauth_client_credentials"
OAUTH_REFRESH_TOKEN = "oauth_refresh_token"
FLOWS = ("auto", SESSION, SOAP, OAUTH_PASSWORD, OAUTH_CLIENT_CREDENTIALS, OAUTH_REFRESH_TOKEN)


class SalesforceAuthError(Outage, RuntimeError):
    """Login failed or is impossible with what is configured; never carries a secret."""


@dataclass(frozen=True)
class Session:
    token: str = field(repr=False)
    instance_url: str


@dataclass(frozen=True)
class Credentials:
    login_url: str
    flow: str = "auto"
    username: Optional[str] = None
    password: Optional[str] = field(default=None, repr=False)
    security_token: Optional[str] = field(default=None, repr=False)
    client_id: Optional[str] = None
    client_secret: Optional[str] = field(default=None, repr=False)
    session_id: Optional[str] = field(default=None, repr=False)
    instance_url: Optional[str] = None
    refresh_token: Optional[str] = field(default=None, repr=False)

    def secrets(self) -> list[str]:
        return [s for s in (self.password, self.security_token, self.client_secret, self.session_id,
                            self.refresh_token) if s]

    def redact(self, text: str) -> str:
        for secret in sorted(self.secrets(), key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    def login_flow(self) -> Optional[str]:
        """The flow that can mint a new session from credentials, or None when only a session id is given."""
        if self.flow not in FLOWS:
            raise SalesforceAuthError(f"unknown Salesforce auth flow {self.flow!r}; use one of {FLOWS}")
        if self.flow not in ("auto", SESSION):
            return self.flow
        if self.flow == SESSION:
            return None
        if self.refresh_token and self.client_id:  # given for one org: the flow its connected app was granted
            return OAUTH_REFRESH_TOKEN
        if self.client_id and self.client_secret:
            return OAUTH_PASSWORD if self.username and self.password else OAUTH_CLIENT_CREDENTIALS
        if self.username and self.password:
            return SOAP
        return None

    def check(self) -> None:
        """Fail early, naming the missing settings (never their values), when no flow can work."""
        flow = self.login_flow()
        wanted = {SOAP: ("username", "password"), OAUTH_PASSWORD: ("client_id", "client_secret", "username",
                                                                   "password"),
                  OAUTH_CLIENT_CREDENTIALS: ("client_id", "client_secret"),
                  OAUTH_REFRESH_TOKEN: ("client_id", "refresh_token")}.get(flow or "", ())
        missing = [VARIABLES[name] for name in wanted if not getattr(self, name)]
        if flow is None and not (self.session_id and self.instance_url):
            missing = [f"{config.SALESFORCE_SESSION_ID} and {config.SALESFORCE_INSTANCE_URL}, or "
                       f"{config.SALESFORCE_USERNAME} and {config.SALESFORCE_PASSWORD}, or "
                       f"{config.SALESFORCE_CLIENT_ID} and {config.SALESFORCE_CLIENT_SECRET}"]
        if missing:
            raise SalesforceAuthError(f"Salesforce {flow or 'session'} login needs {', '.join(missing)}: set them in "
                                      f"the environment (docs/salesforce.md)")


def initial_session(credentials: Credentials, http: requests.Session, version: str) -> Session:
    """The configured session when there is one (no login round trip), else a fresh login."""
    if credentials.session_id and credentials.instance_url and credentials.flow in ("auto", SESSION):
        return Session(credentials.session_id, credentials.instance_url.rstrip("/"))
    return login(credentials, http, version)


def login(credentials: Credentials, http: requests.Session, version: str) -> Session:
    flow = credentials.login_flow()
    if flow is None:
        raise SalesforceAuthError("the Salesforce session expired and no credentials are configured to renew it")
    try:
        if flow == SOAP:
            return _soap(credentials, http, version)
        return _oauth(credentials, http, flow)
    except SalesforceAuthenticationFailed as failed:
        raise SalesforceAuthError(credentials.redact(
            # `failed.message` is simple-salesforce's unformatted template ("... {content}"): use the fault text.
            f"Salesforce SOAP login at {credentials.login_url} failed: {failed.code}: {failed.auth_message}")) \
            from None
    except requests.RequestException as error:
        # The exception text names the URL, never the form body, but redact anyway: a proxy may echo it.
        raise SalesforceAuthError(credentials.redact(
            f"Salesforce login at {credentials.login_url} failed: {type(error).__name__}: {error}")) from None


def _soap(credentials: Credentials, http: requests.Session, version: str) -> Session:
    # scratch_url is simple-salesforce's only way to aim SOAP login at a chosen host (My Domain, a sandbox).
    token, instance = SalesforceLogin(username=credentials.username, password=credentials.password,
                                      security_token=credentials.security_token or "", sf_version=version,
                                      session=http, scratch_url=credentials.login_url.rstrip("/"))
    return Session(token, f"https://{instance}")


def _oauth(credentials: Credentials, http: requests.Session, flow: str) -> Session:
    form = {"client_id": credentials.client_id, "client_secret": credentials.client_secret}
    if flow == OAUTH_PASSWORD:
        form |= {"grant_type": "password", "username": credentials.username,
                 "password": (credentials.password or "") + (credentials.security_token or "")}
    elif flow == OAUTH_REFRESH_TOKEN:
        # The secret is optional here: a connected app may allow the refresh flow without it.
        form = {"grant_type": "refresh_token", "refresh_token": credentials.refresh_token,
                "client_id": credentials.client_id} | \
            ({"client_secret": credentials.client_secret} if credentials.client_secret else {})
    else:
        form["grant_type"] = "client_credentials"
    response = http.post(f"{credentials.login_url.rstrip('/')}/services/oauth2/token", data=form, timeout=60)
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or "access_token" not in body:
        code = body.get("error") or f"HTTP {response.status_code}"
        raise SalesforceAuthError(credentials.redact(
            f"Salesforce OAuth {flow} login at {credentials.login_url} failed: {code}: "
            f"{body.get('error_description') or 'no description'}"))
    return Session(body["access_token"], body["instance_url"].rstrip("/"))
