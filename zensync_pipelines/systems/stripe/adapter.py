"""Stripe adapter: one API call per operation (Stripe has no batch API), bounded concurrency under a limiter."""

from __future__ import annotations

import datetime as dt
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional, Sequence

import stripe

from ...engine.ratelimit import Limiter, TokenBucket
from ...engine.types import Operation, Outcome
from ..base import Backoff, CircuitBreaker, ExternalChange, ReadsChanges, SystemAdapter
from .inbound import DELETE_TYPES, OBJECT_EVENTS
from .objects import describe, handler_for
from .readback import ReadBack
from .shared import ZENSKAR_ID, Conflict
from .writes import server_error, write

# Using the whole rate limit takes rate x latency requests in flight. Stripe answers writes in roughly 0.2-0.4 s,
# so the default covers 0.4 s a request: with fewer threads the latency, not the limit, bounds a run (8 threads
# at 100 ms reach ~70 req/s against a 100/s limit); extra threads only wait on the token bucket.
LATENCY_ALLOWANCE_SECONDS = 0.4
# Consecutive requests (the SDK's retries included) ending in a lost connection or a 5xx that open the circuit
# breaker; a refused key opens it at once (docs/reliability.md). At a 10 % fault rate, ten in a row come about
# once in ten billion requests; against a closed port they take a few operations' worth of calls.
BREAKER_THRESHOLD = 10


class _BreakerOpen(Exception):
    """A call refused locally: the breaker opened while its operation was under way."""


def default_concurrency(rate_limit_per_second: float) -> int:
    return max(4, math.ceil(rate_limit_per_second * LATENCY_ALLOWANCE_SECONDS))


class CountingRequestsClient(stripe.RequestsClient):
    """Counts every HTTP request, the SDK's own retries included, so run metadata reports real API usage; and
    tells the circuit breaker how each ended. Counting requests rather than operations keeps the breaker fair
    under concurrency: an operation that meets a fault takes longer, so failed operations finish together at the
    end of a batch, while failed requests stay interleaved with the successes around them."""

    def __init__(self, on_request: Any, breaker: CircuitBreaker, api_base: str, **kwargs: Any):
        super().__init__(**kwargs)
        self._on_request, self._breaker, self._api_base = on_request, breaker, api_base

    def request(self, *args: Any, **kwargs: Any) -> Any:
        self._on_request()
        try:
            content, status, headers = super().request(*args, **kwargs)
        except stripe.APIConnectionError as error:
            cause = error.__cause__ or error
            self._breaker.outage(f"no connection to {self._api_base} ({type(cause).__name__})")
            raise
        if status >= 500 and not _replayed(headers):
            self._breaker.outage(f"HTTP {status}")
        elif status < 500:
            self._breaker.success()
        # A replayed answer (a 500 Stripe stored under the key) says nothing about Stripe's health now.
        return content, status, headers


def _replayed(headers: Any) -> bool:
    return str((headers or {}).get("Idempotent-Replayed", "")).lower() == "true"


def _describe(error: stripe.StripeError) -> tuple[str, Optional[str], str]:
    code = getattr(error, "code", None) or type(error).__name__
    field = getattr(error, "param", None)
    message = error.user_message or str(error) or type(error).__name__
    return code, field, message


class StripeAdapter(SystemAdapter, ReadsChanges):
    name = "stripe"
    outage_errors = (stripe.AuthenticationError,)

    def __init__(self, api_key: str, api_base: str, rate_limit_per_second: float = 20.0,
                 max_concurrency: Optional[int] = None,
                 max_network_retries: int = 2, timeout_seconds: float = 30.0, rate_limit_retries: int = 5,
                 batch_size: int = 100, stripe_account: Optional[str] = None):
        super().__init__()
        stripe.enable_telemetry = False  # no usage data leaves a sync worker
        self.breaker = CircuitBreaker("Stripe", BREAKER_THRESHOLD)
        http_client = CountingRequestsClient(self.count_call, self.breaker, api_base, timeout=timeout_seconds)
        # A connected account (Stripe Connect, `acct_...`): every request acts inside it with the platform's key.
        self.client = stripe.StripeClient(api_key, stripe_account=stripe_account, base_addresses={"api": api_base},
                                          http_client=http_client, max_network_retries=max_network_retries)
        self.bucket: Limiter = TokenBucket(rate_limit_per_second)
        self.rate_limit_per_second = rate_limit_per_second
        self.max_concurrency = max_concurrency or default_concurrency(rate_limit_per_second)
        self.rate_limit_retries = rate_limit_retries
        # Stripe's SDK retries 5xx itself; only 429s (rate limit, lock_timeout) are left to this backoff.
        self.backoff = Backoff(retries=rate_limit_retries, base_seconds=0.25, max_seconds=5.0)
        self.batch_size = batch_size
        self._handlers: dict[str, Any] = {}
        self._pool: Optional[ThreadPoolExecutor] = None

    def share_limit(self, bucket: Limiter) -> None:
        """Wait on `bucket` instead of the run's own: one request rate for every run of the system at once, so
        runs need not take turns to stay within Stripe's limit (store/lanes.py)."""
        self.bucket = bucket

    def read_changes(self, object_type: str, since: dt.datetime) -> list[ExternalChange]:
        """From the Events API (30 days kept): `customer.updated` and the like, for objects of `object_type`."""
        # An object's events share a prefix, not always its name: a subscription's are customer.subscription.*.
        names = OBJECT_EVENTS.get(object_type)
        prefix = names[0].rsplit(".", 1)[0] if names else object_type
        params = {"type": f"{prefix}.*", "created": {"gte": int(since.timestamp())}, "limit": 100}
        changes = []
        for event in self._call(self.client.v1.events.list, params=params).auto_paging_iter():
            obj = event.data.object.to_dict()
            if obj.get("object") != object_type:  # `customer.*` also matches customer.discount.* and the like
                continue
            metadata = obj.get("metadata") or {}
            action = event.type.rsplit(".", 1)[1]
            if action == "deleted" and event.type not in DELETE_TYPES:
                action = "updated"  # a cancelled subscription is still there, status canceled
            changes.append(ExternalChange(
                object_type, obj["id"], action if action in ("created", "deleted") else "updated",
                dt.datetime.fromtimestamp(event.created, dt.timezone.utc), metadata.get(ZENSKAR_ID),
                {k: v for k, v in obj.items() if k != "metadata"}))
        return changes[::-1]  # Stripe lists newest first

    def read_back(self, object_type: str, page_size: int = 100, tag: str = ZENSKAR_ID) -> ReadBack:
        """A pass over the `object_type` objects zensync owns in Stripe, for drift checks (see readback.py)."""
        return ReadBack(self, object_type, page_size, tag)

    def current(self, object_type: str, external_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The objects as Stripe holds them now (a dry run's "old" values); reads only, one call per object."""
        service = getattr(self.client.v1, describe(object_type).resource, None)
        if service is None:
            return {}
        return {i: self._call(service.retrieve, i).to_dict() for i in external_ids}

    def apply(self, operations: Sequence[Operation]) -> list[Outcome]:
        results = list(self._workers().map(self._apply_one, operations))
        self.breaker.check([r for r in results if r is not None])  # None: not attempted, the breaker was open
        return results  # type: ignore[return-value]

    def _workers(self) -> ThreadPoolExecutor:
        """One pool for the adapter's life, not one per batch: the SDK keeps an HTTP session per thread, so fresh
        threads would open new connections (with real Stripe, new TLS handshakes) for every batch. Idle workers
        exit when the adapter is collected."""
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=self.max_concurrency, thread_name_prefix="stripe")
        return self._pool

    def handler(self, object_type: str) -> Any:
        if object_type not in self._handlers:
            self._handlers[object_type] = handler_for(self.client, self._call, object_type)
        return self._handlers[object_type]

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """Every request waits for the limiter; a 429 (rate limit or lock timeout) is retried with the same key."""
        def attempt() -> Any:
            self.bucket.acquire()
            if self.breaker.open:
                raise _BreakerOpen()
            return fn(*args, **kwargs)

        return self.backoff.run(attempt, lambda error: isinstance(error, stripe.RateLimitError))

    def _apply_one(self, op: Operation) -> Optional[Outcome]:
        if self.breaker.open:
            return None
        handler = self.handler(op.system_type)
        if handler is None:
            return self.failure(op, "unsupported_object", f"Stripe has no resource for {op.system_type!r}")
        try:
            outcome = write(self, handler, op)
        except _BreakerOpen:
            return None  # its intent stays pending: the next run looks before it creates
        except stripe.AuthenticationError:
            # A bad key fails every row alike: stop the run; the intents stay pending for the next one.
            self.breaker.trip("Stripe refused the API key (401 authentication error): set STRIPE_API_KEY (for a "
                              "tenant with its own key: its stripe_key) to a valid secret key")
            return None
        except stripe.PermissionError as error:
            # stripe-python leaves `code` unset on a 403; the body has it.
            if ((error.json_body or {}).get("error") or {}).get("code") != "account_invalid":
                code, field, message = _describe(error)
                return self.failure(op, code, message, field)
            # The connected account (a tenant's, Stripe-Account) has disconnected the platform: every row would
            # fail alike, so stop this run as for a bad key; other accounts' runs are not concerned.
            self.breaker.trip("Stripe refused the connected account (403 account_invalid): it no longer grants the "
                              "platform access; reconnect it or disable its tenant")
            return None
        except Conflict as conflict:
            outcome = self.failure(op, conflict.code, conflict.message, conflict.field)
        except stripe.StripeError as error:
            code, field, message = _describe(error)
            transient = isinstance(error, (stripe.APIConnectionError, stripe.RateLimitError)) or server_error(error)
            return self.failure(op, code, message, field, transient=transient)
        return outcome
