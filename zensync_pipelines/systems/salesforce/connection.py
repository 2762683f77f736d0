"""One authenticated simple-salesforce client and what each of its calls needs: counting, the API budget,
re-authentication on an expired session, and bounded retries of transient faults."""

from __future__ import annotations

import datetime as dt
import re
import threading
from typing import Any, Callable, Optional, TypeVar

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession, SalesforceRefusedRequest

from ..base import Backoff, CircuitBreaker
from .auth import Credentials, Session, initial_session, login
from .records import RecordResult

T = TypeVar("T")
# Consecutive requests failed whole (a 5xx, a lost connection), each after its own backoff retries (about 15 s of
# them), that open the circuit breaker; a refused login or an unreachable login URL opens it at once.
BREAKER_THRESHOLD = 3
LIMIT_INFO = re.compile(r"api-usage=(\d+)/(\d+)")


class BudgetSpent(Exception):
    """The configured share of the daily API allocation is used up: the run must stop, not fail."""


class MeteredSession(requests.Session):
    """A requests session that reports every request and every `Sforce-Limit-Info` header it sees.

    Wrapping the session (not simple-salesforce) is what makes Bulk 2.0 uploads and polls count too.
    """

    def __init__(self, on_request: Callable[[], None], on_response: Callable[[requests.Response], None],
                 ca_bundle: Optional[str] = None, timeout: float = 120.0):
        super().__init__()
        self._on_request, self._on_response, self._timeout = on_request, on_response, timeout
        if ca_bundle:
            # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override `verify` (psf/requests#3829), so the
            # environment must be ignored for the configured bundle to take effect.
            self.verify = ca_bundle
            self.trust_env = False

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", self._timeout)
        self._on_request()
        response = super().request(method, url, *args, **kwargs)
        self._on_response(response)
        return response


class ApiBudget:
    """Daily API usage as Salesforce reports it, and the share of it a run may spend."""

    def __init__(self, share: float):
        self.share = share
        self.used: Optional[int] = None
        self.limit: Optional[int] = None
        self.observed_at: Optional[dt.datetime] = None
        self._lock = threading.Lock()

    def observe(self, response: requests.Response) -> None:
        found = LIMIT_INFO.search(response.headers.get("Sforce-Limit-Info", ""))
        if found:
            self.restore(int(found.group(1)), int(found.group(2)), dt.datetime.now(dt.timezone.utc))

    def restore(self, used: int, limit: int, observed_at: dt.datetime) -> None:
        with self._lock:
            self.used, self.limit, self.observed_at = used, limit, observed_at

    @property
    def spent(self) -> bool:
        """The last known usage is at or above the share: no call until the 24-hour window has moved on."""
        return self.used is not None and self.limit is not None and self.used >= self.share * self.limit

    def resumes_at(self) -> Optional[dt.datetime]:
        """When a spent share is free again: every call counted at the last observation has left the rolling
        24-hour window by then (a conservative bound: Salesforce does not say when each call was made)."""
        return self.observed_at + dt.timedelta(hours=24) if self.spent and self.observed_at else None

    @property
    def known(self) -> bool:
        return self.limit is not None

    def ensure(self, calls: int) -> None:
        """Raise BudgetSpent unless `calls` more API calls stay within the share of the allocation."""
        with self._lock:
            if self.used is None or self.limit is None:
                return
            allowed = int(self.share * self.limit)
            if self.used + calls > allowed:
                raise BudgetSpent(f"Salesforce API budget: {self.used} of {self.limit} daily calls used; the next "
                                  f"step needs {calls} and the run may spend up to {self.share:.0%} "
                                  f"({allowed}); the rest resumes on the next run")


def is_transient(error: Exception) -> bool:
    """5xx answers and lost connections; never validation errors, which fail the same way every time."""
    if isinstance(error, (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError)):
        return True
    return isinstance(error, SalesforceError) and getattr(error, "status", 0) >= 500


def is_limit_exceeded(error: Exception) -> bool:
    return isinstance(error, SalesforceRefusedRequest) and "REQUEST_LIMIT_EXCEEDED" in str(error.content)


class SalesforceConnection:
    def __init__(self, credentials: Credentials, version: str, backoff: Backoff, budget: ApiBudget,
                 on_request: Callable[[], None], ca_bundle: Optional[str] = None, timeout: float = 120.0):
        self.credentials, self.version, self.backoff, self.budget = credentials, version, backoff, budget
        self.http = MeteredSession(on_request, budget.observe, ca_bundle, timeout)
        self.breaker = CircuitBreaker("Salesforce", BREAKER_THRESHOLD)
        self._client: Optional[Salesforce] = None
        self._lock = threading.Lock()

    def client(self) -> Salesforce:
        """The logged-in client; the first use logs in, so a run with nothing to write makes no request."""
        with self._lock:
            if self._client is None:
                self._client = self._build(self.backoff.run(
                    lambda: initial_session(self.credentials, self.http, self.version), is_transient))
            return self._client

    def _build(self, session: Session) -> Salesforce:
        return Salesforce(instance_url=session.instance_url, session_id=session.token, session=self.http,
                          version=self.version)

    def _renew(self, expired: Salesforce) -> Salesforce:
        with self._lock:
            if self._client is expired:  # another thread may have renewed it already
                self._client = self._build(self.backoff.run(
                    lambda: login(self.credentials, self.http, self.version), is_transient))
            assert self._client is not None
            return self._client

    def call(self, fn: Callable[[Salesforce], T]) -> T:
        """Run `fn` with the client: re-authenticate once on 401, retry transient faults with backoff.

        simple-salesforce renews sessions only when it logged in itself; built from a session id, as here, it
        does not, so renewal lives here. A spent allocation (403 REQUEST_LIMIT_EXCEEDED) stops the run.
        """
        def attempt() -> T:
            client = self.client()
            try:
                return fn(client)
            except SalesforceExpiredSession:
                return fn(self._renew(client))

        try:
            return self.backoff.run(attempt, is_transient)
        except SalesforceRefusedRequest as refused:
            if is_limit_exceeded(refused):
                raise BudgetSpent("Salesforce refused the call: the daily API allocation is spent "
                                  "(REQUEST_LIMIT_EXCEEDED); the rest resumes on the next run") from None
            raise

    def request_failed(self, error: Exception, records: int) -> list[RecordResult]:
        """A whole request failed for good (after its retries): each record fails with the same reason. The
        breaker counts it, since a request refused whole says nothing about its records (Salesforce answers those
        one by one): when the count is reached the run stops here and the chunk stays untouched. Only a 4xx
        answer is final for its records; a 5xx, a lost connection or a local fault (TLS, CA file) is transient."""
        self.breaker.outage(f"{type(error).__name__}: {str(error)[:150]}")
        self.breaker.check()
        transient = not isinstance(error, SalesforceError) or is_transient(error)
        return [RecordResult.request_failed(error, transient)] * records

    def learn_budget(self) -> None:
        """One cheap call (`/limits`) so the guard knows the usage before the first write."""
        if not self.budget.known:
            self.call(lambda sf: sf.restful("limits/"))
