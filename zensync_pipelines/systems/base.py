"""What every system adapter shares: call counting, limits, and turning errors into per-row outcomes."""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Optional, Sequence

from ..engine.types import FAILED, Operation, Outcome


@dataclass(frozen=True)
class SystemLimits:
    requests_per_second: Optional[float]
    max_records_per_call: int
    daily_api_limit: Optional[int] = None


class SystemAdapter(ABC):
    """Apply batches of planned operations to one external system.

    `apply` answers every operation with one Outcome, in order, and never raises for a single row's failure;
    it raises only when the whole run must stop (then `engine.sync.StopSync` keeps what was finished).
    """

    name: ClassVar[str]
    batch_size: int = 100

    def __init__(self) -> None:
        self._api_calls = 0
        self._calls_lock = threading.Lock()

    @property
    def api_calls(self) -> int:
        return self._api_calls

    def count_call(self, calls: int = 1) -> None:
        with self._calls_lock:
            self._api_calls += calls

    @abstractmethod
    def apply(self, operations: Sequence[Operation]) -> list[Outcome]: ...

    @abstractmethod
    def limits(self) -> SystemLimits: ...

    @staticmethod
    def failure(op: Operation, code: Optional[str], message: str, field: Optional[str] = None) -> Outcome:
        return Outcome.of(op, FAILED, error_code=code or "error", error_field=field, error_message=message)
