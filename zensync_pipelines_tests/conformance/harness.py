"""What the conformance suite needs of a system: the few handles to provoke faults and to read the system back
without the adapter. A system's harness factory (a generator yielding one) lives beside its adapter as
`conformance_harness`, or wherever its registry entry's `conformance=` names."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from zensync_pipelines.systems.base import SystemAdapter


@dataclass
class Harness:
    system: str
    object_type: str
    new_adapter: Callable[[], SystemAdapter]  # a fresh adapter per run, as every Dagster run builds its own
    read: Callable[[str], Optional[dict[str, Any]]]  # external id -> the object's fields, None once deleted
    tagged: Callable[[], Counter]  # catalog row id -> how many live objects carry it
    lose_next_write: Callable[[], None]  # the next write lands, but zensync never learns its outcome
    heal: Callable[[], None]
    throttle: Callable[[], None]  # the system refuses part of the coming requests as over its rate limit
    rejected: dict[str, Any]  # catalog values the system itself refuses, though the spec lets them through
    crash_error: tuple[type[BaseException], ...] = ()  # what a lost write raises out of the run, if anything
    reads_changes: bool = False
    # The test catalog's columns -> the object's fields, and the field a system that upserts matches on.
    targets: dict[str, str] = field(default_factory=lambda: {"name": "name", "email": "email"})
    external_id_field: Optional[str] = None
    extra: dict[str, Any] = field(default_factory=dict)
