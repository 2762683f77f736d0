"""A thread-safe token bucket: adapters wait on it so a run never exceeds a system's per-second limit."""

from __future__ import annotations

import threading
import time
from typing import Callable, Optional, Protocol


class Limiter(Protocol):
    """What an adapter waits on before each request: this module's TokenBucket (one run) or a bucket shared by
    every run of a system (store/lanes.py)."""

    def acquire(self) -> None: ...


class TokenBucket:
    """Admits `rate` requests per second on average, with bursts up to `burst`; the clock is injectable."""

    def __init__(self, rate: float, burst: Optional[float] = None, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate)
        self._tokens = self.capacity
        self._clock, self._sleep = clock, sleep
        self._last = clock()
        self._lock = threading.Lock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._last) * self.rate)
        self._last = now

    def try_acquire(self) -> bool:
        with self._lock:
            self._refill()
            if self._tokens >= 1:
                self._tokens -= 1
                return True
            return False

    def acquire(self) -> None:
        """Block until a token is free. Tokens are taken in turn, so waiting threads are served fairly."""
        with self._lock:
            self._refill()
            self._tokens -= 1
            wait = 0.0 if self._tokens >= 0 else -self._tokens / self.rate
        if wait:
            self._sleep(wait)
