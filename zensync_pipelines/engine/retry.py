"""When a row that failed for a transient reason is tried again: minutes, growing with attempts, capped.

Inside a run, adapters already retry a fault a few times within seconds; a row that still failed met a fault that
outlasted those, so the next tries wait minutes (1, 2, 4, ... up to an hour) instead of hammering a system that
is struggling. Permanent failures (invalid data, validation rules) get no retry time: only a change of their row
brings them back.
"""

from __future__ import annotations

import datetime as dt

TRANSIENT, PERMANENT = "transient", "permanent"
BASE_MINUTES = 1.0
CAP_MINUTES = 60.0
# A row left `pending` this long was in a run that died (kill -9, lost worker): the retry automation takes it.
STALE_PENDING = dt.timedelta(minutes=15)


def retry_delay(attempts: int) -> dt.timedelta:
    """Wait after the `attempts`-th failed attempt (1 for the first failure)."""
    return dt.timedelta(minutes=min(CAP_MINUTES, BASE_MINUTES * 2 ** max(attempts - 1, 0)))


def next_retry_at(attempts: int, now: dt.datetime) -> dt.datetime:
    return now + retry_delay(attempts)
