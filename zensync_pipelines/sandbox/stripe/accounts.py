"""Stripe Connect: the platform and its connected accounts, each with its own objects, keys and rate limit.

A request with `Stripe-Account: acct_...` acts inside that connected account: its customers, invoices, events and
idempotency keys are its own, another account's ids are `resource_missing`, and it draws on its own rate limit
(Stripe limits per account). Without the header a request acts on the platform, which is the whole sandbox as it
was before Connect. The account a request acts in is kept in a context variable set for that request, so the
resource modules keep one `store` (a `ScopedStore`) and need not pass an account through every handler; code
that runs outside a request (webhook threads, loading a data file) names its account with `accounts.using(...)`.
"""

from __future__ import annotations

import contextvars
import threading
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

from ...engine.ratelimit import TokenBucket
from .errors import StripeError
from .idempotency import IdempotencyLayer
from .store import Store

PLATFORM_ID = "acct_1SandboxPlatform"  # what GET /v1/account answers without the header
_current: contextvars.ContextVar[Optional[str]] = contextvars.ContextVar("stripe_sandbox_account", default=None)


@dataclass
class AccountState:
    id: Optional[str]  # None: the platform
    store: Store
    idempotency: IdempotencyLayer
    bucket: Optional[TokenBucket] = None


class Accounts:
    """Every account's state; the platform's store is built first and keeps the `account` objects themselves."""

    def __init__(self, platform: AccountState, clock: Callable[[], float], seed: int,
                 search_lag: Callable[[], float], mark_dirty: Optional[Callable[[], None]]):
        self.platform = platform
        self._clock, self._seed, self._search_lag, self._mark_dirty = clock, seed, search_lag, mark_dirty
        self._connected: dict[str, AccountState] = {}
        self._lock = threading.Lock()
        # Access taken away without losing data: connected accounts that deauthorised the platform (403 on their
        # header), and secret keys rolled or deleted in the dashboard (401 api_key_expired).
        self.revoked_accounts: set[str] = set()
        self.revoked_keys: set[str] = set()

    # -- which account a piece of code acts in -----------------------------------------------------------------
    @staticmethod
    def current_id() -> Optional[str]:
        return _current.get()

    def current(self) -> AccountState:
        return self.state(_current.get())

    @contextmanager
    def using(self, account_id: Optional[str]) -> Iterator[AccountState]:
        token = _current.set(account_id)
        try:
            yield self.state(account_id)
        finally:
            _current.reset(token)

    def state(self, account_id: Optional[str]) -> AccountState:
        if account_id is None or account_id == PLATFORM_ID:
            return self.platform
        with self._lock:
            found = self._connected.get(account_id)
        if found is None:
            raise no_access(account_id)
        return found

    def exists(self, account_id: str) -> bool:
        with self._lock:
            return account_id == PLATFORM_ID or account_id in self._connected

    def reachable(self, account_id: str) -> bool:
        """Whether a request may act in the account: it exists and has not revoked the platform's access."""
        return self.exists(account_id) and account_id not in self.revoked_accounts

    def connected(self) -> list[AccountState]:
        with self._lock:
            return list(self._connected.values())

    # -- lifecycle of connected accounts -----------------------------------------------------------------------
    def open(self, account_id: str) -> AccountState:
        """The state of a new (or reloaded) connected account: an empty store sharing the platform's renderers and
        persistence, and ids from its own seeded RNG so that two accounts never hand out the same id."""
        platform = self.platform.store
        store = Store(self._clock, f"{self._seed}:{account_id}", self._search_lag)
        store.renderers = platform.renderers
        store.includable = platform.includable
        store.on_change = platform.on_change
        idempotency = IdempotencyLayer(self._clock, *([self._mark_dirty] if self._mark_dirty else []))
        state = AccountState(account_id, store, idempotency)
        with self._lock:
            self._connected[account_id] = state
        return state

    def close(self, account_id: str) -> None:
        with self._lock:
            self._connected.pop(account_id, None)

    def bucket(self, state: AccountState, make: Callable[[], TokenBucket]) -> TokenBucket:
        with self._lock:  # two first requests of an account at once must share one bucket
            if state.bucket is None:
                state.bucket = make()
            return state.bucket

    def reset_buckets(self) -> None:
        with self._lock:
            for state in self._connected.values():
                state.bucket = None

    def dump(self) -> dict[str, Any]:
        return {state.id: {"store": state.store.dump(), "idempotency": state.idempotency.dump()}
                for state in self.connected()}

    def load(self, accounts: dict[str, Any]) -> None:
        for account_id, saved in accounts.items():
            state = self.open(account_id)
            with self.using(account_id):  # renderers look related objects up in the account being loaded
                state.store.load(saved.get("store", {}))
            state.idempotency.load(saved.get("idempotency", {}))


class ScopedStore:
    """The store of the account the current request acts in; what the resource modules hold as `sb.store`."""

    def __init__(self, accounts: Accounts):
        self._accounts = accounts

    def __getattr__(self, name: str) -> Any:
        return getattr(self._accounts.current().store, name)


def no_access(account_id: str) -> StripeError:
    """Stripe's answer to a `Stripe-Account` the key may not act for (unknown, deleted, or not connected)."""
    return StripeError(403, f"The provided key does not have access to account '{account_id}' (or that account "
                       "does not exist). Application access may have been revoked.", type="invalid_request_error",
                       code="account_invalid", should_retry=False, saved=False)
