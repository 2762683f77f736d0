"""A system's request rate shared by every run that talks to it: a token bucket kept in one `zensync_state` row.

Runs side by side (a sensor's small sync beside a long backfill of another catalog) draw from one bucket, so
together they stay within the system's per-second limit and none waits for another to finish. It is a drop-in
for engine.ratelimit.TokenBucket (`acquire()`), but takes tokens from the row in blocks, in one short transaction
each, and spends them locally: the database is written once per `block` requests, not once per request.

The row: scope "rate_lane", key the lane's name (the system, e.g. "stripe"; a tenant-qualified lane joins the
same way), value {"tokens": float, "at": epoch seconds of the last take}. Tokens may go negative: a taker that
finds too few takes its block anyway and sleeps until the refill has paid its debt, so takers are served in the
order they came and a small run is never starved by a long one. The clock is the hosts' wall clock, so the
processes sharing a lane need clocks in step (NTP), as every machine of a deployment has.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from typing import Callable, Optional

from sqlalchemy import Connection, Engine, update
from sqlalchemy.dialects import postgresql, sqlite

from .state import DEFAULT_TENANT
from .tables import state

SCOPE = "rate_lane"
BLOCK = 10  # tokens per database round trip: ~1 write per 10 API calls, and at most 10 left unused by a run


class SharedTokenBucket:
    """Admits `rate` requests per second on average across every process using `lane`, bursts up to `burst`."""

    def __init__(self, engine: Engine, lane: str, rate: float, burst: Optional[float] = None, block: int = BLOCK,
                 tenant: str = DEFAULT_TENANT, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep):
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.engine, self.lane, self.rate, self.tenant = engine, lane, rate, tenant
        self.capacity = burst if burst is not None else max(1.0, rate)
        # A block never exceeds the burst: a low limit (2/s) must not hand one run 10 requests at once.
        self.block = max(1, min(block, int(self.capacity)))
        self._clock, self._sleep = clock, sleep
        self._in_hand = 0
        self._lock = threading.Lock()
        self._insert = (postgresql if engine.dialect.name == "postgresql" else sqlite).insert
        self.takes = 0  # database transactions so far (run metadata, tests)

    def acquire(self) -> None:
        """Block until a token is free. The run's threads wait together while a block is fetched and paid for."""
        with self._lock:
            if self._in_hand == 0:
                wait = self._take(self.block)
                if wait > 0:
                    self._sleep(wait)
                self._in_hand = self.block
            self._in_hand -= 1

    def _take(self, count: int) -> float:
        """Take `count` tokens from the row; returns the seconds to wait until the refill covers them."""
        with self.engine.begin() as connection:
            now = self._clock()
            stored = self._lock_row(connection, now)
            # A clock a little behind another host's never refills backwards.
            elapsed = max(0.0, now - stored["at"])
            tokens = min(self.capacity, stored["tokens"] + elapsed * self.rate) - count
            connection.execute(self._where(update(state)).values(
                value=json.dumps({"tokens": tokens, "at": max(now, stored["at"])})))
        self.takes += 1
        return max(0.0, -tokens / self.rate)

    def _lock_row(self, connection: Connection, now: float) -> dict:
        """The row's value, locked until the transaction ends: the UPDATE takes PostgreSQL's row lock and SQLite's
        write lock before reading, so two takers never read the same tokens (SELECT ... FOR UPDATE, for both)."""
        touch = self._where(update(state)).values(updated_at=dt.datetime.now(dt.timezone.utc)) \
            .returning(state.c.value)
        value = connection.execute(touch).scalar()
        if value is None:  # the lane's first take ever: a full bucket; a racing creator's row wins
            row = {"tenant": self.tenant, "scope": SCOPE, "key": self.lane,
                   "value": json.dumps({"tokens": self.capacity, "at": now}),
                   "updated_at": dt.datetime.now(dt.timezone.utc)}
            connection.execute(self._insert(state).values(row).on_conflict_do_nothing())
            value = connection.execute(touch).scalar()
        return json.loads(value)

    def _where(self, statement):  # noqa: ANN001, ANN202 - an UPDATE of this lane's row
        c = state.c
        return statement.where(c.tenant == self.tenant, c.scope == SCOPE, c.key == self.lane)
