"""StripeSandbox: the request pipeline in Stripe's order, and the wiring of state, events and webhooks.

A request is first placed in its account (the platform, or the connected account its `Stripe-Account` header
names: accounts.py), then passes authentication, then that account's rate limiter (429s are answered here, before
idempotency, so they are never stored), then the account's idempotency layer (replay or claim the key), then fault
injection, then the object's write lock, and only then the endpoint.
"""

from __future__ import annotations

import base64
import random
import re
import sys
import time
import traceback
from collections import Counter
from typing import Any, Callable, Iterable, Optional

from ..core import DropConnection, Request, Response, Sandbox
from . import resources
from ...engine.ratelimit import TokenBucket
from .accounts import Accounts, AccountState, ScopedStore, no_access
from .api import FAULT_KINDS, Call, LockTargets, ObjectLocks, Route, StripeKnobs
from .errors import StripeError, api_error, rate_limited, unauthenticated
from .events import API_VERSION, EventLog
from .forms import Params, decode_body, decode_query
from .idempotency import IdempotencyLayer, fingerprint
from .persistence import DebouncedFile
from .querying import expand, paginate
from .store import ALPHANUM, Obj, Store
from .webhooks import WebhookDispatcher

_KEY = re.compile(r"sk_test_[A-Za-z0-9_]+")
_request_ids = random.SystemRandom()  # request ids need no reproducibility and must not disturb the seeded RNGs


def _nothing() -> None:
    pass


class StripeSandbox(Sandbox):
    knobs: StripeKnobs

    def __init__(self, port: int = 0, latency_ms: float = 0, rate_limit: Optional[float] = 25, fault_rate: float = 0.0,
                 seed: int = 0, data_file: Optional[str] = None, search_lag_seconds: float = 0,
                 clock: Optional[Callable[[], float]] = None, **knobs: Any):
        super().__init__(StripeKnobs(latency_ms=latency_ms, fault_rate=fault_rate, rate_limit=rate_limit or None,
                                     seed=seed, search_lag_seconds=search_lag_seconds, **knobs), port=port,
                         clock=clock or time.monotonic)
        self.clock = clock or time.time
        self.persistence = DebouncedFile(data_file, self._snapshot) if data_file else None
        mark_dirty = self.persistence.mark_dirty if self.persistence is not None else None
        search_lag = lambda: self.knobs.search_lag_seconds  # noqa: E731 - read at each write, knobs change
        platform = AccountState(None, Store(self.clock, seed, search_lag),
                                IdempotencyLayer(self.clock, mark_dirty or _nothing))
        if mark_dirty is not None:
            platform.store.on_change.append(mark_dirty)
        self.accounts = Accounts(platform, self.clock, seed, search_lag, mark_dirty)
        # 429s answered, per account id ("platform" without Stripe-Account): what proves a client held its limit.
        self.rate_limited_requests: Counter[str] = Counter()
        self.store = ScopedStore(self.accounts)  # type: ignore[assignment] - a Store of the request's account
        self.locks = ObjectLocks()
        self.webhooks = WebhookDispatcher(self.accounts, self.knobs, random.Random(seed).random, self._delivered)
        self.events = EventLog(self.store, self.webhooks.enqueue, self.accounts.current_id)
        self.router.add("GET", "/_sandbox/webhooks", lambda r: Response(body={"attempts": self.webhooks.attempts}))
        self.invoice_paid: list[Callable[[Optional[Call], Obj], None]] = []
        for module in resources.ALL:
            module.register(self)

    # -- knobs -------------------------------------------------------------------------------------------------
    def configure(self, **changes: Any) -> dict[str, Any]:
        if "fault_kinds" in changes:
            kinds = tuple(changes["fault_kinds"])
            unknown = set(kinds) - set(FAULT_KINDS)
            if unknown or not kinds:
                raise ValueError(f"fault_kinds must be a non-empty subset of {FAULT_KINDS}, got {kinds}")
            changes["fault_kinds"] = kinds
        if changes.get("rate_limit") == 0:
            changes["rate_limit"] = None
        if "rate_limit" in changes:
            self.accounts.reset_buckets()
        result = super().configure(**changes)
        self.webhooks.wake()
        return result

    # -- registration helpers used by the resource modules ----------------------------------------------------
    def api(self, method: str, pattern: str, route: Route, lock: Optional[LockTargets] = None) -> None:
        if lock is None and method in ("POST", "DELETE") and "{id}" in pattern:
            lock = lambda call: [call.id]  # noqa: E731 - writes to one object serialise on that object
        self.router.add(method, pattern, lambda request: self._serve(request, route, lock))

    def reply(self, obj: Obj, params: Params) -> Obj:
        return expand(self.store, self.store.render(obj), params.expand)

    def list_reply(self, params: Params, objects: Iterable[Obj], url: str) -> Obj:
        with self.store.lock:
            page = paginate(params, objects, url, self.store.render)
            return expand(self.store, page, params.expand)

    # -- the request pipeline ----------------------------------------------------------------------------------
    def dispatch(self, request: Request) -> Response:
        """Serve the request inside the account its `Stripe-Account` header names (the platform without one)."""
        wanted = request.header("stripe-account") or None
        if wanted is not None and not self.accounts.reachable(wanted):
            if request.path.startswith("/_sandbox/") and not self.accounts.exists(wanted):
                return Response(404, {"error": f"no connected account {wanted!r}"})
            request.context["account_refused"] = wanted  # answered after authentication, as Stripe does
            wanted = None
        try:
            with self.accounts.using(wanted):
                return super().dispatch(request)
        except StripeError as error:  # the account was deleted between the check and the request
            return self.after_request(request, error.response())

    def before_request(self, request: Request, pattern: str) -> Optional[Response]:
        request.context["request_id"] = "req_" + "".join(_request_ids.choice(ALPHANUM) for _ in range(14))
        try:
            self._authenticate(request)
        except StripeError as error:
            return error.response()
        if "account_refused" in request.context:
            return no_access(request.context["account_refused"]).response()
        if self.rate_limited():
            self.rate_limited_requests[self.accounts.current().id or "platform"] += 1
            return rate_limited().response()
        return None

    def rate_limited(self) -> bool:
        """Stripe limits each account on its own: a connected account has its own bucket at the same rate."""
        state = self.accounts.current()
        if state.id is None:
            return super().rate_limited()
        rate = self.knobs.rate_limit
        if not rate:
            return False
        return not self.accounts.bucket(state, lambda: TokenBucket(rate, clock=self._bucket_clock)).try_acquire()

    @property
    def idempotency(self) -> IdempotencyLayer:
        """The idempotency keys of the account the caller acts in (the platform's outside a request)."""
        return self.accounts.current().idempotency

    def _authenticate(self, request: Request) -> None:
        header = request.header("authorization") or ""
        scheme, _, credentials = header.partition(" ")
        if not header:
            raise unauthenticated(
                "You did not provide an API key. You need to provide your API key in the Authorization header, "
                "using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY'). See "
                "https://stripe.com/docs/api#authentication for details, or we can help at https://support.stripe.com/.")
        key = credentials.strip()
        if scheme.lower() == "basic":  # curl -u sk_test_...:
            try:
                key = base64.b64decode(key).decode().split(":", 1)[0]
            except (ValueError, UnicodeDecodeError):
                key = ""
        elif scheme.lower() != "bearer":
            raise unauthenticated("Invalid authorization header. Use Bearer auth with a secret key (sk_test_...).")
        masked = key[:8] + "*" * max(0, len(key) - 12) + key[-4:] if len(key) > 12 else key
        if not _KEY.fullmatch(key):
            raise unauthenticated(f"Invalid API Key provided: {masked}")
        if key in self.accounts.revoked_keys:
            raise StripeError(401, f"Expired API Key provided: {masked}", code="api_key_expired", saved=False)

    def _serve(self, request: Request, route: Route, lock: Optional[LockTargets]) -> Response:
        raw = decode_body(request.body) if request.method == "POST" else decode_query(request.query)
        key = request.header("idempotency-key") if request.method == "POST" else None
        call = Call(request, raw, request.context["request_id"], key)
        idempotency = self.accounts.current().idempotency  # keys are per account, like the objects they made
        if key:
            try:
                saved = idempotency.begin(key, fingerprint(request.method, request.path, raw), call.request_id)
            except StripeError as error:
                return error.response()
            if saved is not None:
                return Response(saved.status, saved.body, {**saved.headers, "Idempotent-Replayed": "true",
                                                           "Original-Request": saved.request_id})
        fault = self.choice(list(self.knobs.fault_kinds)) if self.faulted() else None
        if fault in ("rate_limit", "drop"):  # the endpoint never ran: nothing to save, a retry runs it
            if key:
                idempotency.abandon(key)
            if fault == "drop":
                raise DropConnection()
            return rate_limited().response()
        response, keep = (api_error().response(), True) if fault == "api_error" else self._run(call, route, lock)
        if key:
            if keep:
                idempotency.finish(key, response.status, response.body, response.headers)
            else:
                idempotency.abandon(key)
        if fault == "drop_after":
            raise DropConnection()  # the write happened and its result is saved, but the client never hears
        return response

    def _run(self, call: Call, route: Route, lock: Optional[LockTargets]) -> tuple[Response, bool]:
        try:
            targets = lock(call) if lock else []
            with self.locks.hold(targets, self.knobs.lock_wait_ms / 1000, self.knobs.write_hold_ms / 1000):
                return Response(200, route(call)), True
        except StripeError as error:
            return error.response(), error.saved
        except Exception:  # a sandbox bug still answers like Stripe's 500, and leaves a trace for its author
            traceback.print_exc(file=sys.stderr)
            return api_error().response(), True

    def after_request(self, request: Request, response: Response) -> Response:
        request_id = request.context.get("request_id") or "req_" + "".join(
            _request_ids.choice(ALPHANUM) for _ in range(14))
        response.headers = {**response.headers, "Request-Id": request_id,
                            "Stripe-Version": request.header("stripe-version") or API_VERSION}
        if request.header("idempotency-key") and request.method == "POST":
            response.headers["Idempotency-Key"] = request.header("idempotency-key") or ""
        return response

    def not_found(self, request: Request, path_known: bool) -> Response:
        return StripeError(404, f"Unrecognized request URL ({request.method}: {request.path}). Please see "
                           "https://stripe.com/docs or we can help at https://support.stripe.com/.").response()

    def handle_error(self, request: Request, error: Exception) -> Response:
        traceback.print_exception(error, file=sys.stderr)
        return api_error().response()

    # -- lifecycle ---------------------------------------------------------------------------------------------
    def _delivered(self, event_id: str, account: Optional[str]) -> None:
        if account is None or self.accounts.exists(account):
            with self.accounts.using(account):
                self.events.delivered(event_id)

    def _snapshot(self) -> dict[str, Any]:
        platform = self.accounts.platform
        return {"store": platform.store.dump(), "idempotency": platform.idempotency.dump(),
                "accounts": self.accounts.dump(), "webhooks": self.webhooks.dump()}

    def start(self) -> "StripeSandbox":
        if self.persistence is not None:
            state = self.persistence.read()
            if state:
                self.accounts.platform.store.load(state.get("store", {}))
                self.accounts.platform.idempotency.load(state.get("idempotency", {}))
                self.accounts.load(state.get("accounts", {}))
                for account in self.accounts.platform.store.newest_first("account"):
                    if not self.accounts.exists(account["id"]):
                        self.accounts.open(account["id"])  # a file saved before the account made any object
                self.webhooks.load(state.get("webhooks", []))
            self.persistence.start()
        self.webhooks.start()
        super().start()
        return self

    def stop(self) -> None:
        super().stop()
        self.webhooks.stop()
        if self.persistence is not None:
            self.persistence.stop()

    def wait(self) -> None:
        """Block the calling thread while serving (the CLI's foreground mode); Ctrl-C raises KeyboardInterrupt."""
        while self._server is not None:
            time.sleep(0.2)

    def __enter__(self) -> "StripeSandbox":
        return self.start()
