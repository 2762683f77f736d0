"""Sensor ticks that wait for a change instead of ending at once (issue 27: change -> other side in seconds).

Dagster's daemon looks at sensors every 5 s (`MIN_INTERVAL_LOOP_TIME`, not configurable), so a change waited 2.5 s
on average, up to 5 s, before a tick saw it. With sensors on threads (dagster_instance.yaml), a tick may take its
time without holding up the loop or other sensors: a tick that finds nothing stays, watching the database for a
write (store/wake.py: a stat() every 0.1 s on SQLite), and looks again as soon as one lands; it ends after
`sensor_wait_seconds`, early enough that the daemon's next look finds it finished and starts the next tick, so a
sensor is watching for all but the last second or so of each 5 s. Nothing is polled faster: the number of ticks,
and what the daemon spends on each, is unchanged.
"""

from __future__ import annotations

import time
from typing import Callable, TypeVar, Union

from dagster import SensorEvaluationContext, SensorResult, SkipReason

from ..store.wake import WriteWatch
from .resources import tick_database

Result = TypeVar("Result", bound=Union[SensorResult, SkipReason])
_watches: dict[str, WriteWatch] = {}


def waiting_tick(context: SensorEvaluationContext, wait_seconds: float, tick: Callable[[], Result]) -> Result:
    """`tick()`, again after each write to the catalog database, until it finds something or the wait is over."""
    if wait_seconds <= 0:
        return tick()
    url = tick_database(context).url
    watch = _watches.get(url) or _watches.setdefault(url, WriteWatch(url))
    deadline = time.monotonic() + wait_seconds
    while True:
        stamp = watch.stamp()  # before the query: a commit landing during it still wakes the wait below
        result = tick()
        if not isinstance(result, SkipReason) or not watch.wait(stamp, deadline):
            return result
