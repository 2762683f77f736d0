"""Stripe adapter: one API call per operation (Stripe has no batch API), bounded concurrency under a limiter."""

from __future__ import annotations

import datetime as dt
import math
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional, Sequence

import stripe

from ...engine.ratelimit import TokenBucket
from ...engine.types import CREATE, DELETE, DELETED, SYNCED, Operation, Outcome
from ..base import Backoff, ExternalChange, ReadsChanges, SystemAdapter, SystemLimits
from .objects import ZENSKAR_ID, Conflict, describe, handler_for

# Using the whole rate limit takes rate x latency requests in flight. Stripe answers writes in roughly 0.2-0.4 s,
# so the default covers 0.4 s a request: with fewer threads the latency, not the limit, bounds a run (8 threads
# at 100 ms reach ~70 req/s against a 100/s limit); extra threads only wait on the token bucket.
LATENCY_ALLOWANCE_SECONDS = 0.4


def default_concurrency(rate_limit_per_second: float) -> int:
    return max(4, math.ceil(rate_limit_per_second * LATENCY_ALLOWANCE_SECONDS))


class CountingRequestsClient(stripe.RequestsClient):
    """Counts every HTTP request, the SDK's own retries included, so run metadata reports real API usage."""

    def __init__(self, on_request: Any, **kwargs: Any):
        super().__init__(**kwargs)
        self._on_request = on_request

    def request(self, *args: Any, **kwargs: Any) -> Any:
        self._on_request()
        return super().request(*args, **kwargs)


def _describe(error: stripe.StripeError) -> tuple[str, Optional[str], str]:
    code = getattr(error, "code", None) or type(error).__name__
    field = getattr(error, "param", None)
    message = error.user_message or str(error) or type(error).__name__
    return code, field, message


class StripeAdapter(SystemAdapter, ReadsChanges):
    name = "stripe"

    def __init__(self, api_key: str, api_base: str, rate_limit_per_second: float = 20.0,
                 max_concurrency: Optional[int] = None,
                 max_network_retries: int = 2, timeout_seconds: float = 30.0, rate_limit_retries: int = 5,
                 batch_size: int = 100):
        super().__init__()
        stripe.enable_telemetry = False  # no usage data leaves a sync worker
        http_client = CountingRequestsClient(self.count_call, timeout=timeout_seconds)
        self.client = stripe.StripeClient(api_key, base_addresses={"api": api_base}, http_client=http_client,
                                          max_network_retries=max_network_retries)
        self.bucket = TokenBucket(rate_limit_per_second)
        self.rate_limit_per_second = rate_limit_per_second
        self.max_concurrency = max_concurrency or default_concurrency(rate_limit_per_second)
        self.rate_limit_retries = rate_limit_retries
        # Stripe's SDK retries 5xx itself; only 429s (rate limit, lock_timeout) are left to this backoff.
        self.backoff = Backoff(retries=rate_limit_retries, base_seconds=0.25, max_seconds=5.0)
        self.batch_size = batch_size
        self._handlers: dict[str, Any] = {}
        self._pool: Optional[ThreadPoolExecutor] = None

    def limits(self) -> SystemLimits:
        return SystemLimits(requests_per_second=self.rate_limit_per_second, max_records_per_call=1)

    def read_changes(self, object_type: str, since: dt.datetime) -> list[ExternalChange]:
        """From the Events API (30 days kept): `customer.updated` and the like, for objects of `object_type`."""
        params = {"type": f"{object_type}.*", "created": {"gte": int(since.timestamp())}, "limit": 100}
        changes = []
        for event in self._call(self.client.v1.events.list, params=params).auto_paging_iter():
            obj = event.data.object.to_dict()
            if obj.get("object") != object_type:  # `customer.*` also matches customer.discount.* and the like
                continue
            metadata = obj.get("metadata") or {}
            action = event.type.rsplit(".", 1)[1]
            changes.append(ExternalChange(
                object_type, obj["id"], action if action in ("created", "deleted") else "updated",
                dt.datetime.fromtimestamp(event.created, dt.timezone.utc), metadata.get(ZENSKAR_ID),
                {k: v for k, v in obj.items() if k != "metadata"}))
        return changes[::-1]  # Stripe lists newest first

    def current(self, object_type: str, external_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The objects as Stripe holds them now (a dry run's "old" values); reads only, one call per object."""
        service = getattr(self.client.v1, describe(object_type).resource, None)
        if service is None:
            return {}
        return {i: self._call(service.retrieve, i).to_dict() for i in external_ids}

    def apply(self, operations: Sequence[Operation]) -> list[Outcome]:
        return list(self._workers().map(self._apply_one, operations))

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
            return fn(*args, **kwargs)

        return self.backoff.run(attempt, lambda error: isinstance(error, stripe.RateLimitError))

    def _apply_one(self, op: Operation) -> Outcome:
        handler = self.handler(op.object_type)
        if handler is None:
            return self.failure(op, "unsupported_object", f"Stripe has no resource for {op.object_type!r}")
        try:
            if op.action == DELETE:
                try:
                    handler.delete(op.external_id, op.idempotency_key)
                except stripe.InvalidRequestError as error:
                    if error.code != "resource_missing":
                        raise  # already gone is the outcome we wanted
                return Outcome.of(op, DELETED)
            if op.action == CREATE:
                found = handler.find(op.internal_id, op.payload) if op.recovering else None
                if found is None:
                    return Outcome.of(op, SYNCED, external_id=handler.create(op.internal_id, op.payload,
                                                                             op.idempotency_key))
                handler.update(found, op.internal_id, op.payload, op.idempotency_key + "-recovered")
                return Outcome.of(op, SYNCED, external_id=found)
            external_id = handler.update(op.external_id, op.internal_id, op.payload, op.idempotency_key)
            return Outcome.of(op, SYNCED, external_id=external_id)
        except stripe.AuthenticationError:
            raise  # a bad key fails every row: stop the run, the intents stay pending for the next one
        except Conflict as conflict:
            return self.failure(op, conflict.code, conflict.message, conflict.field)
        except stripe.StripeError as error:
            code, field, message = _describe(error)
            return self.failure(op, code, message, field)
