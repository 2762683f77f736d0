"""Stripe's error envelope and the handful of constructors the resources need.

Every error leaves the sandbox as `{"error": {"type", "code", "message", "param", "doc_url"}}` with the status Stripe
uses, because the SDK picks its exception class from the status and `type`, and sync code branches on `code`.
"""

from __future__ import annotations

from typing import Any, Optional

from ..core import Response

DOC_BASE = "https://docs.stripe.com/error-codes"


class StripeError(Exception):
    """A failure the sandbox answers the way Stripe would.

    `saved` says whether the idempotency layer may store it: Stripe saves a result only once the endpoint started
    executing, so parameter-validation failures, 429s and in-flight conflicts are never replayed.
    """

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: Optional[str] = None,
        param: Optional[str] = None,
        should_retry: Optional[bool] = None,
        saved: bool = True,
        extra: Optional[dict[str, Any]] = None,
    ):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.should_retry = should_retry
        self.saved = saved
        self.extra = extra or {}

    def response(self) -> Response:
        error: dict[str, Any] = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"{DOC_BASE}#{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        error.update(self.extra)
        headers = {}
        if self.should_retry is not None:
            headers["Stripe-Should-Retry"] = "true" if self.should_retry else "false"
        return Response(self.status, {"error": error}, headers)


def invalid(message: str, code: Optional[str] = None, param: Optional[str] = None, saved: bool = True) -> StripeError:
    """A 400 the client must not retry as is (Stripe tells the SDK so with Stripe-Should-Retry: false)."""
    return StripeError(400, message, code=code, param=param, should_retry=False, saved=saved)


def validation(message: str, code: str, param: str) -> StripeError:
    """A parameter rejected before the endpoint runs: never stored under an idempotency key."""
    return invalid(message, code=code, param=param, saved=False)


def not_editable(message: str, param: Optional[str] = None) -> StripeError:
    return invalid(message, code="invoice_not_editable", param=param)


NOUNS = {
    "acct": "account",
    "cus": "customer",
    "in": "invoice",
    "ii": "invoiceitem",
    "il": "line_item",
    "prod": "product",
    "price": "price",
    "evt": "event",
    "we": "webhook_endpoint",
}


def missing(object_id: str, param: str = "id", noun: Optional[str] = None) -> StripeError:
    noun = noun or NOUNS.get(object_id.split("_", 1)[0], "object")
    return StripeError(404, f"No such {noun}: '{object_id}'", code="resource_missing", param=param, should_retry=False)


def rate_limited() -> StripeError:
    return StripeError(
        429,
        "Request rate limit exceeded. You can learn more about rate limits here https://stripe.com/docs/rate-limits.",
        code="rate_limit",
        saved=False,
    )


def lock_timeout(object_id: str) -> StripeError:
    return StripeError(
        429,
        f"This object cannot be accessed right now because another API request or Stripe process is currently "
        f"accessing it. If you see this error intermittently, retry the request. ({object_id})",
        code="lock_timeout",
        should_retry=True,
        saved=False,
    )


def api_error() -> StripeError:
    # Stripe-Should-Retry: true lets the SDK retry, yet a retry under the same key replays this stored 500: the
    # outcome stays unknown until the client reconciles, which is exactly what sync code must be tested against.
    return StripeError(
        500, "An unknown error occurred while processing your request.", type="api_error", should_retry=True
    )


def unauthenticated(message: str) -> StripeError:
    return StripeError(401, message, saved=False)
