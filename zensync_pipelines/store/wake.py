"""Noticing that a database was written to, without querying it: for sensors that wait for a change between the
daemon's looks instead of sleeping through it (dagster_defs/waking.py).

SQLite commits write the database file or, in WAL mode, its -wal file, so a commit by any process changes one of
their (modification time, size) pairs: a stat() of two files every 0.1 s costs microseconds, and the catalog
table, the inbox and zensync's own tables all live in that one file.

PostgreSQL has no file to look at, so it is told: statement-level triggers on the inbox and on each catalog table
NOTIFY the deployment's channel (store/wake_triggers.py), and one connection per process LISTENs on it for every
waiting tick (store/pg_listen.py). A catalog table without its trigger (its owner adds it with `zensync db upgrade
--wake-triggers`) is not covered: its sensor's ticks end at once, as on any other database, where the watch never
waits.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any, Iterable, Optional

from sqlalchemy import Engine
from sqlalchemy.engine import make_url

STEP_SECONDS = 0.1


def _sqlite_file(url: str) -> Optional[str]:
    parsed = make_url(url)
    if not parsed.drivername.startswith("sqlite") or parsed.database in (None, "", ":memory:"):
        return None
    return os.path.abspath(parsed.database)


class FileWatch:
    """SQLite's watch; on a database with no write signal it has no files, and never waits."""

    def __init__(self, url: str):
        path = _sqlite_file(url)
        self.paths = (path, path + "-wal") if path else ()

    @property
    def can_wait(self) -> bool:
        return bool(self.paths)

    def covers(self, engine: Engine, tables: Iterable[str]) -> bool:
        return True  # every table lives in the watched files

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


# One watch per process and database URL: a forked process (a run) must not use its parent's listener thread.
_watches: dict[tuple[int, str], Any] = {}
_lock = threading.Lock()


def write_watch(url: str) -> Any:
    """The process's watch on `url`: a FileWatch or a NotifyWatch (store/pg_listen.py), both with can_wait,
    covers(engine, tables), stamp() and wait(since, deadline)."""
    key = (os.getpid(), url)
    watch = _watches.get(key)
    if watch is None:
        with _lock:
            watch = _watches.get(key)
            if watch is None:
                parsed = make_url(url)
                if parsed.get_backend_name() == "postgresql" and parsed.get_driver_name() == "psycopg2":
                    from .pg_listen import NotifyWatch  # psycopg2 only where PostgreSQL is used

                    watch = NotifyWatch(url)
                else:
                    watch = FileWatch(url)
                _watches[key] = watch
    return watch


def close_watches() -> None:
    """Stop this process's listeners (tests: their connections count against the server's max_connections)."""
    with _lock:
        for key in [k for k in _watches if k[0] == os.getpid()]:
            watch = _watches.pop(key)
            if hasattr(watch, "close"):
                watch.close()
