"""SalesforceSandbox: wires schema, orgs (each with its store, writer and limits), sessions and the API routes
onto the shared HTTPS server. `store`, `writer` and `allocation` are those of the org the current request acts
in (orgs.py), the first org outside a request."""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any, Callable, Optional

import requests

from zensync_pipelines.sandbox.core import DropConnection, Request, Response, Sandbox

from . import tls
from .auth import USER_ID, Sessions
from .bulk import BulkRoutes
from .collections import CollectionRoutes
from .control import ControlRoutes
from .errors import ApiError
from .host import SalesforceKnobs
from .limits import DailyAllocation
from .orgs import Org, Orgs
from .outbound import OutboundMessages
from .persistence import Persistence
from .query import QueryRoutes
from .rest import RestRoutes
from .schema import Schema
from .store import Store
from .writes import Writer

MIN_VERSION = 46.0  # sObject Collections upsert needs 46.0; older paths answer 404 like an unknown version
REQUEST_FAULTS = ("server_error", "drop", "drop_after")
WRITES = ("POST", "PATCH", "PUT", "DELETE")


class SalesforceSandbox(Sandbox):
    knobs: SalesforceKnobs

    def __init__(self, port: int = 0, ca_file: Optional[str] = None, latency_ms: float = 0, fault_rate: float = 0.0,
                 daily_api_limit: int = 15000, seed: int = 0, data_file: Optional[str] = None,
                 schema_file: Optional[str] = None, bulk_processing_seconds: float = 0.0,
                 clock: Optional[Callable[[], float]] = None, outbound_urls: Optional[dict[str, str]] = None):
        knobs = SalesforceKnobs(latency_ms=latency_ms, fault_rate=fault_rate, seed=seed,
                                daily_api_limit=daily_api_limit, bulk_processing_seconds=bulk_processing_seconds)
        super().__init__(knobs, port=port)
        self.clock = clock or time.time
        self.schema = Schema.load(schema_file)
        self.orgs = Orgs(self.schema, self.clock, lambda: self.knobs.daily_api_limit)
        self.sessions = Sessions(lambda: self.url, self.clock, self.orgs)
        self._own_ca_file = ca_file is None
        self.ca_file = ca_file or _temp_path()
        self.rest = RestRoutes(self)
        self.query = QueryRoutes(self)
        self.collections = CollectionRoutes(self)
        self.bulk = BulkRoutes(self)
        self.router.add("POST", "/services/oauth2/token", self.sessions.token)
        self.router.add("POST", "/services/Soap/u/{version}", self.sessions.soap_login)
        self.router.add("GET", "/services/oauth2/userinfo", self.sessions.userinfo)
        self.router.add("POST", "/services/oauth2/revoke", self.sessions.revoke)
        self.control = ControlRoutes(self, self.add_org, self.new_session, self.refresh_token, self.expire_sessions)
        self._started = False
        self.persistence = Persistence(data_file, self._snapshot) if data_file else None
        self._wire(self.orgs.default, outbound_urls or {})
        self.outbound = self.orgs.default.outbound
        if self.persistence:
            self._restore(self.persistence.load())

    def _wire(self, org: Org, outbound_urls: dict[str, str]) -> None:
        """Give an org its outbound messages and its persistence hooks."""
        org.outbound = OutboundMessages(self, outbound_urls, org.id, org.store)
        org.store.on_write = org.outbound.on_write
        if self.persistence:
            org.store.on_change = self.persistence.schedule
            org.outbound.on_change = self.persistence.schedule
        if self._started:
            org.outbound.start()

    # -- the org of the current request --------------------------------------------------------------------------
    @property
    def store(self) -> Store:
        return self.orgs.current().store

    @property
    def writer(self) -> Writer:
        return self.orgs.current().writer

    @property
    def allocation(self) -> DailyAllocation:
        return self.orgs.current().allocation

    # -- public API for tests and the CLI ----------------------------------------------------------------------
    @property
    def instance_url(self) -> str:
        return self.url

    @property
    def login_url(self) -> str:
        """Where SOAP login and the OAuth token endpoint live (`SalesforceLogin(scratch_url=...)`)."""
        return self.url

    def new_session(self, user_id: str = USER_ID) -> str:
        """An access token without a login round trip, for `Salesforce(session_id=..., instance_url=...)`; pass
        `auth.SALES_USER_ID` to write as a user other than the integration user, or a user of another org."""
        return self.sessions.issue(user_id)

    def refresh_token(self, user_id: str = USER_ID) -> str:
        """A refresh token of `user_id` for the OAuth refresh-token flow (`grant_type=refresh_token`)."""
        return self.sessions.refresh_token(user_id)

    def expire_sessions(self, org: Optional[str] = None) -> bool:
        self.sessions.expire_all(org)
        return True

    def add_org(self, name: Optional[str] = None, daily_api_limit: Optional[int] = None,
                outbound_urls: Optional[dict[str, str]] = None, client_id: Optional[str] = None,
                client_secret: Optional[str] = None, currencies: Optional[list[str]] = None) -> Org:
        """Another org in this sandbox, with its own OrganizationId, users, records, API allocation (the
        `daily_api_limit` knob unless given), connected app, outbound messages and active currencies (one: a
        single-currency org, whose objects have no CurrencyIsoCode)."""
        org = self.orgs.add(name, daily_api_limit, client_id, client_secret, currencies)
        self._wire(org, outbound_urls or {})
        if self.persistence:
            self.persistence.schedule()
        return org

    def org(self, org_id: Optional[str] = None) -> Org:
        found = self.orgs.get(org_id) if org_id else self.orgs.default
        if found is None:
            raise KeyError(f"no org {org_id!r} in the sandbox")
        return found

    def require_credentials(self, username: Optional[str] = None, password: Optional[str] = None,
                            security_token: str = "", client_id: Optional[str] = None,
                            client_secret: Optional[str] = None, org: Optional[str] = None) -> None:
        """Only these credentials log in to the org from now on (by default any are accepted)."""
        expected = {"username": username, "client_id": client_id, "client_secret": client_secret,
                    "password_and_token": None if password is None else password + security_token}
        self.org(org).expected = {k: v for k, v in expected.items() if v is not None}

    def requests_session(self) -> requests.Session:
        """A requests.Session that trusts this sandbox's CA, as a client of it must.

        trust_env is off because requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override `session.verify`
        (psf/requests#3829): on a machine that sets them, `verify = ca_file` alone is silently ignored.
        """
        session = requests.Session()
        session.verify = self.ca_file
        session.trust_env = False
        return session

    def start(self) -> "SalesforceSandbox":
        certificates = tls.generate()
        tls.write_ca(certificates, self.ca_file)
        self._ssl_context = tls.server_context(certificates)
        super().start()
        self._started = True
        for org in self.orgs.all():
            org.outbound.start()
        return self

    def stop(self) -> None:
        self._started = False
        for org in self.orgs.all():
            org.outbound.stop()
        super().stop()
        if self.persistence:
            self.persistence.flush()
        if self._own_ca_file and os.path.exists(self.ca_file):
            os.remove(self.ca_file)

    # -- request cycle -----------------------------------------------------------------------------------------
    def dispatch(self, request: Request) -> Response:
        """Serve the request inside the org its session token belongs to (the first org without one)."""
        with self.orgs.using(self.sessions.org_of(request)):
            return super().dispatch(request)

    def before_request(self, request: Request, pattern: str) -> Optional[Response]:
        if not pattern.startswith("/services/data/"):
            return None  # login endpoints: no session, no allocation, no faults
        try:
            if float(request.params["version"].lstrip("v")) < MIN_VERSION:
                raise ValueError
        except ValueError:
            return ApiError(404, "NOT_FOUND", "The requested resource does not exist").response()
        denied = self.sessions.check(request)
        if denied:
            return denied
        self.writer.act_as(request.context["user_id"])
        if self.orgs.current().down:  # before counting: a call the org never served costs nothing
            return ApiError(503, "SERVER_UNAVAILABLE", "The org is unavailable; try again later.").response()
        if not self.allocation.try_spend():
            return ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.").response()
        kinds = [k for k in self.knobs.fault_kinds if k in REQUEST_FAULTS]
        if request.method not in WRITES:
            kinds = [k for k in kinds if k != "drop_after"]  # a lost reply to a read loses nothing
        if kinds and self.faulted():
            fault = self.choice(kinds)
            if fault == "drop":
                raise DropConnection()
            if fault == "drop_after":
                request.context["drop_after"] = True
                return None
            return ApiError(500, "UNKNOWN_EXCEPTION", "An unexpected error occurred. Please include this ErrorId "
                            "if you contact support: 1712963961-180415 (-1524474911)").response()
        return None

    def chance(self, rate: float) -> bool:
        return rate > 0 and self.random() < rate

    def shuffled(self, items: list[Any]) -> list[Any]:
        with self._rng_lock:
            return self._rng.sample(items, len(items))

    def record_fault(self, record_id: Optional[str] = None) -> bool:
        """Whether this record of a Collections/Bulk request should fail with UNABLE_TO_LOCK_ROW."""
        return "lock_row" in self.knobs.fault_kinds and self.faulted()

    def after_request(self, request: Request, response: Response) -> Response:
        if request.context.get("drop_after"):
            raise DropConnection()  # the write is done; the client never hears of it
        if request.path.startswith("/services/data"):
            response.headers["Sforce-Limit-Info"] = self.allocation.header()
        return response

    def not_found(self, request: Request, path_known: bool) -> Response:
        if path_known:
            return ApiError(405, "METHOD_NOT_ALLOWED", f"HTTP Method '{request.method}' not allowed.").response()
        return ApiError(404, "NOT_FOUND", "The requested resource does not exist").response()

    def handle_error(self, request: Request, error: Exception) -> Response:
        if isinstance(error, ApiError):
            return error.response()
        return ApiError(500, "UNKNOWN_EXCEPTION", f"{type(error).__name__}: {error}").response()

    # -- persistence -------------------------------------------------------------------------------------------
    def _snapshot(self) -> dict[str, Any]:
        first = self.orgs.default
        return {"version": 1, "store": first.store.dump(), "api_calls": first.allocation.dump(),
                "outbound_queue": first.outbound.dump(), "refresh_tokens": self.sessions.dump(),
                "orgs": [self.orgs.dump(org) for org in self.orgs.all() if org is not first]}

    def _restore(self, state: Optional[dict[str, Any]]) -> None:
        if state:
            first = self.orgs.default
            first.store.load(state.get("store", {}))
            first.allocation.load(state.get("api_calls", []))
            first.outbound.load(state.get("outbound_queue", []))
            self.sessions.load(state.get("refresh_tokens", {}))
            for saved in state.get("orgs", []):
                org = self.orgs.restore(saved)
                self._wire(org, saved.get("outbound_urls", {}))
                org.outbound.load(saved.get("outbound_queue", []))


def _temp_path() -> str:
    fd, path = tempfile.mkstemp(prefix="zensync-sf-ca-", suffix=".pem")
    os.close(fd)
    return path
