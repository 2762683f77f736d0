"""Stripe adapter: one API call per operation (Stripe has no batch API), bounded concurrency under a limiter."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Optional, Sequence

import stripe

from ...engine.ratelimit import TokenBucket
from ...engine.types import CREATE, DELETE, DELETED, SYNCED, Operation, Outcome
from ..base import Backoff, SystemAdapter, SystemLimits
from .objects import HANDLERS


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


class StripeAdapter(SystemAdapter):
    name = "stripe"

    def __init__(self, api_key: str, api_base: str, rate_limit_per_second: float = 20.0, max_concurrency: int = 8,
                 max_network_retries: int = 2, timeout_seconds: float = 30.0, rate_limit_retries: int = 5,
                 batch_size: int = 100):
        super().__init__()
        stripe.enable_telemetry = False  # no usage data leaves a sync worker
        http_client = CountingRequestsClient(self.count_call, timeout=timeout_seconds)
        self.client = stripe.StripeClient(api_key, base_addresses={"api": api_base}, http_client=http_client,
                                          max_network_retries=max_network_retries)
        self.bucket = TokenBucket(rate_limit_per_second)
        self.rate_limit_per_second = rate_limit_per_second
        self.max_concurrency = max_concurrency
        self.rate_limit_retries = rate_limit_retries
        # Stripe's SDK retries 5xx itself; only 429s (rate limit, lock_timeout) are left to this backoff.
        self.backoff = Backoff(retries=rate_limit_retries, base_seconds=0.25, max_seconds=5.0)
        self.batch_size = batch_size
        self.handlers = {name: handler(self.client) for name, handler in HANDLERS.items()}

    def limits(self) -> SystemLimits:
        return SystemLimits(requests_per_second=self.rate_limit_per_second, max_records_per_call=1)

    def apply(self, operations: Sequence[Operation]) -> list[Outcome]:
        with ThreadPoolExecutor(max_workers=self.max_concurrency, thread_name_prefix="stripe") as pool:
            return list(pool.map(self._apply_one, operations))

    def _call(self, fn: Any, *args: Any) -> Any:
        """Every request waits for the limiter; a 429 (rate limit or lock timeout) is retried with the same key."""
        def attempt() -> Any:
            self.bucket.acquire()
            return fn(*args)

        return self.backoff.run(attempt, lambda error: isinstance(error, stripe.RateLimitError))

    def _apply_one(self, op: Operation) -> Outcome:
        handler = self.handlers.get(op.object_type)
        if handler is None:
            return self.failure(op, "unsupported_object", f"Stripe adapter has no handler for {op.object_type!r}")
        try:
            if op.action == DELETE:
                try:
                    self._call(handler.delete, op.external_id)
                except stripe.InvalidRequestError as error:
                    if error.code != "resource_missing":
                        raise  # already gone is the outcome we wanted
                return Outcome.of(op, DELETED)
            if op.action == CREATE:
                found = self._call(handler.find, op.internal_id, op.payload) if op.recovering else None
                if found is None:
                    external_id = self._call(handler.create, op.internal_id, op.payload, op.idempotency_key)
                    return Outcome.of(op, SYNCED, external_id=external_id)
                self._call(handler.update, found, op.internal_id, op.payload, op.idempotency_key + "-recovered")
                return Outcome.of(op, SYNCED, external_id=found)
            external_id = self._call(handler.update, op.external_id, op.internal_id, op.payload, op.idempotency_key)
            return Outcome.of(op, SYNCED, external_id=external_id)
        except stripe.AuthenticationError:
            raise  # a bad key fails every row: stop the run, the intents stay pending for the next one
        except stripe.StripeError as error:
            code, field, message = _describe(error)
            return self.failure(op, code, message, field)
