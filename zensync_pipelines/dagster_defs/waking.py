"""Sensor ticks that wait for a change instead of ending at once (issue 27: change -> other side in seconds).

Dagster's daemon looks at sensors every 5 s (`MIN_INTERVAL_LOOP_TIME`, not configurable), so a change waited 2.5 s
on average, up to 5 s, before a tick saw it. With sensors on threads (dagster_instance.yaml), a tick may take its
time without holding up the loop or other sensors: a tick that finds nothing stays, watching the database for a
write (store/wake.py: a stat() every 0.1 s on SQLite, a trigger's NOTIFY on PostgreSQL), and looks again as soon
as one lands; it ends after `sensor_wait_seconds`, early enough that the daemon's next look finds it finished and
starts the next tick, so a sensor is watching for all but the last second or so of each 5 s. Nothing is polled
faster: the number of ticks, and what the daemon spends on each, is unchanged.

A tick that ends too late costs a whole loop: the daemon's next look finds it still in flight and skips the sensor,
so the one after starts it 10 s after the last. How late is too late depends on what the daemon and the machine do
around the tick (on a loaded machine its own bookkeeping took 1-3 s), so each sensor adapts its wait: a tick that
starts more than 1.5 loops after the previous one was skipped, and the wait shrinks by 0.5 s (to 1 s at least);
each tick on time grows it back by 0.1 s, up to `sensor_wait_seconds`.
"""

from __future__ import annotations

import time
from typing import Callable, Optional, Sequence, TypeVar, Union

from dagster import SensorEvaluationContext, SensorResult, SkipReason

from ..store.wake import write_watch
from .resources import tick_database

Result = TypeVar("Result", bound=Union[SensorResult, SkipReason])
LOOP_SECONDS = 5.0  # dagster/_daemon/sensor.py: MIN_INTERVAL_LOOP_TIME
SHORTEST, SHRINK, GROW = 1.0, 0.5, 0.1


class WaitBudget:
    """One sensor's wait, kept in the code server between its ticks (see the module's docstring)."""

    def __init__(self, most: float):
        self.most = self.seconds = most
        self.last_start: Optional[float] = None

    def start(self, now: float) -> float:
        if self.last_start is not None:
            if now - self.last_start > 1.5 * LOOP_SECONDS:
                self.seconds = max(SHORTEST, self.seconds - SHRINK)
            else:
                self.seconds = min(self.most, self.seconds + GROW)
        self.last_start = now
        return self.seconds


_budgets: dict[str, WaitBudget] = {}


def waiting_tick(context: SensorEvaluationContext, name: str, wait_seconds: float, tick: Callable[[], Result],
                 tables: Sequence[str] = ()) -> Result:
    """`tick()`, again after each write to the catalog database, until it finds something or the wait is over.
    `tables`: the catalog tables whose writes the tick is for (zensync's own inbox needs none); on PostgreSQL a
    tick waits only when each one's trigger is in place. The sensors never add one: a notifying commit holds a
    server-wide lock through its flush, a cost to the catalog's own writers that its owner opts into
    (`zensync db upgrade --wake-triggers`)."""
    if wait_seconds <= 0:
        return tick()
    database = tick_database(context)
    watch = write_watch(database.url)
    if not watch.can_wait or not watch.covers(database.engine(), tables):
        return tick()
    budget = _budgets.get(name) or _budgets.setdefault(name, WaitBudget(wait_seconds))
    now = time.monotonic()
    deadline = now + budget.start(now)
    while True:
        stamp = watch.stamp()  # before the query: a commit landing during it still wakes the wait below
        result = tick()
        if not isinstance(result, SkipReason) or not watch.wait(stamp, deadline):
            return result
