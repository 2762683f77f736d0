"""Stripe's v1 idempotency layer: the first saved result for a key is replayed for 24 hours.

Documented behaviour followed here (docs.stripe.com/idempotency): the status and body are saved once the endpoint
started executing, whatever the outcome (a 500 included); a reuse with other parameters is an `idempotency_error`;
a reuse while the first request still runs is a 409; keys may be pruned after 24 hours and then run anew.
"""

from __future__ import annotations

import hashlib
import json
import threading
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Optional

from .errors import StripeError

TTL_SECONDS = 24 * 3600


@dataclass
class Saved:
    fingerprint: str
    created: float
    request_id: str
    status: int = 0
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    in_flight: bool = True


def fingerprint(method: str, path: str, params: dict[str, Any]) -> str:
    canonical = json.dumps([method, path, params], sort_keys=True)
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotencyLayer:
    def __init__(self, clock: Callable[[], float], on_change: Callable[[], None] = lambda: None):
        self._clock = clock
        self._saved: dict[str, Saved] = {}
        self._lock = threading.Lock()
        self._on_change = on_change

    def begin(self, key: str, print_: str, request_id: str) -> Optional[Saved]:
        """Claim `key` for a new request, or return the saved result to replay; raises on misuse."""
        if len(key) > 255:
            raise StripeError(400, "Idempotency keys can be at most 255 characters long.", type="idempotency_error",
                              should_retry=False, saved=False)
        with self._lock:
            now = self._clock()
            saved = self._saved.get(key)
            if saved is not None and now - saved.created >= TTL_SECONDS:
                saved = None  # pruned: the key starts a new request
            if saved is None:
                self._saved[key] = Saved(print_, now, request_id)
                return None
            if saved.fingerprint != print_:
                raise StripeError(
                    400,
                    f"Keys for idempotent requests can only be used with the same parameters they were first used "
                    f"with. Try using a key other than '{key}' if you meant to execute a different request.",
                    type="idempotency_error", should_retry=False, saved=False)
            if saved.in_flight:
                raise StripeError(
                    409, "There is currently another in-progress request using this Idempotent Key (that probably "
                    "means you submitted twice, and the other request is still going through): "
                    f"{key}. Please try again later.",
                    type="idempotency_error", code="idempotency_key_in_use", should_retry=True, saved=False)
            return saved

    def finish(self, key: str, status: int, body: Any, headers: dict[str, str]) -> None:
        with self._lock:
            saved = self._saved[key]
            saved.status, saved.body, saved.headers, saved.in_flight = status, body, dict(headers), False
        self._on_change()

    def abandon(self, key: str) -> None:
        """Forget a claimed key whose request never started executing (so a retry runs it)."""
        with self._lock:
            self._saved.pop(key, None)

    def dump(self) -> dict[str, Any]:
        with self._lock:
            return {key: asdict(saved) for key, saved in self._saved.items() if not saved.in_flight}

    def load(self, state: dict[str, Any]) -> None:
        with self._lock:
            self._saved.update({key: Saved(**saved) for key, saved in state.items()})
