"""SalesforceSandbox: wires schema, store, sessions, limits and the API routes onto the shared HTTPS server."""

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
from .errors import ApiError
from .host import SalesforceKnobs
from .limits import DailyAllocation
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
        self.store = Store(self.schema)
        self.writer = Writer(self.store, self.clock, USER_ID)
        self.allocation = DailyAllocation(lambda: self.knobs.daily_api_limit, self.clock)
        self.sessions = Sessions(lambda: self.url, self.clock)
        self._own_ca_file = ca_file is None
        self.ca_file = ca_file or _temp_path()
        self.rest = RestRoutes(self)
        self.query = QueryRoutes(self)
        self.collections = CollectionRoutes(self)
        self.bulk = BulkRoutes(self)
        self.router.add("POST", "/services/oauth2/token", self.sessions.token)
        self.router.add("POST", "/services/Soap/u/{version}", self.sessions.soap_login)
        self.router.add("GET", "/services/oauth2/userinfo", self.sessions.userinfo)
        self.router.add("POST", "/_sandbox/session", self._session)
        self.outbound = OutboundMessages(self, outbound_urls)
        self.store.on_write = self.outbound.on_write
        self.router.add("GET", "/_sandbox/outbound", lambda r: Response(body=self.outbound.status()))
        self.router.add("POST", "/_sandbox/outbound", self._configure_outbound)
        self.router.add("POST", "/_sandbox/expire_sessions",
                        lambda r: Response(body={"expired": self.expire_sessions()}))
        self.persistence = Persistence(data_file, self._snapshot) if data_file else None
        if self.persistence:
            self._restore(self.persistence.load())
            self.store.on_change = self.persistence.schedule
            self.outbound.on_change = self.persistence.schedule

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
        `auth.SALES_USER_ID` to write as a user other than the integration user."""
        return self.sessions.issue(user_id)

    def expire_sessions(self) -> bool:
        self.sessions.expire_all()
        return True

    def require_credentials(self, username: Optional[str] = None, password: Optional[str] = None,
                            security_token: str = "", client_id: Optional[str] = None,
                            client_secret: Optional[str] = None) -> None:
        """Only these credentials log in from now on (by default any are accepted)."""
        expected = {"username": username, "client_id": client_id, "client_secret": client_secret,
                    "password_and_token": None if password is None else password + security_token}
        self.sessions.expected = {k: v for k, v in expected.items() if v is not None}

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
        self.outbound.start()
        return self

    def stop(self) -> None:
        self.outbound.stop()
        super().stop()
        if self.persistence:
            self.persistence.flush()
        if self._own_ca_file and os.path.exists(self.ca_file):
            os.remove(self.ca_file)

    # -- request cycle -----------------------------------------------------------------------------------------
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

    def _session(self, request: Request) -> Response:
        """`{"user_id": ...}` picks the user (default: the integration user)."""
        try:
            return Response(body={"access_token": self.new_session((request.json() or {}).get("user_id", USER_ID))})
        except ValueError as error:
            return Response(400, {"error": str(error)})

    def _configure_outbound(self, request: Request) -> Response:
        """`{"urls": {"Account": url, "*": url}}` sets endpoints (an empty url removes one); knobs go through
        `/_sandbox/knobs` like every other knob."""
        body = request.json() or {}
        try:
            self.outbound.configure(dict(body.get("urls") or {}))
        except ValueError as error:
            return Response(400, {"error": str(error)})
        return Response(body=self.outbound.status())

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
        return {"version": 1, "store": self.store.dump(), "api_calls": self.allocation.dump(),
                "outbound_queue": self.outbound.dump()}

    def _restore(self, state: Optional[dict[str, Any]]) -> None:
        if state:
            self.store.load(state.get("store", {}))
            self.allocation.load(state.get("api_calls", []))
            self.outbound.load(state.get("outbound_queue", []))


def _temp_path() -> str:
    fd, path = tempfile.mkstemp(prefix="zensync-sf-ca-", suffix=".pem")
    os.close(fd)
    return path
