"""The daily API request allocation: a 24-hour rolling count of API calls on the sandbox's clock."""

from __future__ import annotations

import bisect
import threading
from typing import Callable

DAY = 24 * 3600.0


class DailyAllocation:
    def __init__(self, limit: Callable[[], int], clock: Callable[[], float]):
        self._limit = limit  # read on each call so `configure(daily_api_limit=...)` applies at once
        self._clock = clock
        self._calls: list[float] = []  # sorted timestamps of counted calls
        self._lock = threading.Lock()

    @property
    def limit(self) -> int:
        return int(self._limit())

    def used(self) -> int:
        with self._lock:
            self._expire()
            return len(self._calls)

    def try_spend(self) -> bool:
        """Count one call unless the allocation is spent (refused calls are not counted, as in Salesforce)."""
        with self._lock:
            self._expire()
            if len(self._calls) >= self.limit:
                return False
            bisect.insort(self._calls, self._clock())
            return True

    def header(self) -> str:
        return f"api-usage={self.used()}/{self.limit}"

    def _expire(self) -> None:
        cutoff = self._clock() - DAY
        drop = bisect.bisect_left(self._calls, cutoff)
        if drop:
            del self._calls[:drop]

    def dump(self) -> list[float]:
        with self._lock:
            return list(self._calls)

    def load(self, calls: list[float]) -> None:
        with self._lock:
            self._calls = sorted(calls)

    def reset(self) -> None:
        with self._lock:
            self._calls.clear()
