"""A settable clock for tests: pass `ManualClock()` as `StripeSandbox(clock=...)` to move time without sleeping."""

from __future__ import annotations

import threading
import time
from typing import Optional


class ManualClock:
    def __init__(self, start: Optional[float] = None):
        self._now = time.time() if start is None else start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._now

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += seconds
