"""Noticing that a database was written to, without querying it: for sensors that wait for a change between the
daemon's looks instead of sleeping through it (dagster_defs/waking.py).

SQLite commits write the database file or, in WAL mode, its -wal file, so a commit by any process changes one of
their (modification time, size) pairs: a stat() of two files every 0.1 s costs microseconds, and the catalog
table, the inbox and zensync's own tables all live in that one file. Other databases give no such signal for
free; there the watch does not wait (LISTEN/NOTIFY on PostgreSQL would need a connection per waiting sensor and a
trigger on the catalog's table: not done).
"""

from __future__ import annotations

import os
import time
from typing import Optional

from sqlalchemy.engine import make_url

STEP_SECONDS = 0.1


def _sqlite_file(url: str) -> Optional[str]:
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return os.path.abspath(parsed.database)


class WriteWatch:
    def __init__(self, url: str):
        path = _sqlite_file(url)
        self.paths = (path, path + "-wal") if path else ()

    @property
    def can_wait(self) -> bool:
        return bool(self.paths)

    def stamp(self) -> tuple:
        stamps = []
        for path in self.paths:
            try:
                stat = os.stat(path)
                stamps.append((stat.st_mtime_ns, stat.st_size))
            except FileNotFoundError:
                stamps.append(None)
        return tuple(stamps)

    def wait(self, since: tuple, deadline: float) -> bool:
        """Until the files differ from `since` (True) or the monotonic `deadline` passes (False)."""
        if not self.can_wait:
            return False
        while time.monotonic() < deadline:
            time.sleep(min(STEP_SECONDS, max(0.0, deadline - time.monotonic())))
            if self.stamp() != since:
                return True
        return False
