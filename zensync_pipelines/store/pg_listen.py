"""PostgreSQL's write signal: one connection per process and database that LISTENs on the deployment's channel
(store/wake_triggers.py says who notifies it), shared by every sensor tick waiting in the process.

A daemon thread select()s on the connection's socket and counts notifications under a Condition; a waiting tick
sleeps on the Condition until the count moves or its deadline passes, so nothing polls. Ticks on the code server's
threads (up to ~16 at a time) all share this one connection: a connection per waiting tick would cost the server a
backend each, and max_connections is shared with everything else.

A lost connection (a restart, pg_terminate_backend, a network cut caught by TCP keepalives) must never hang or
fail a tick: the watch stops offering to wait (can_wait False, and a wait under way returns False at once), the
tick ends as it would without a watch, and the thread connects again after 1 s, then 2, 4 ... up to 30 s.
Notifications sent while it was away are lost, so a reconnect counts as one: a tick that stamped before the
drop looks again.
"""

from __future__ import annotations

import logging
import os
import select
import threading
import time
from typing import Any, Iterable, Optional

import psycopg2
from sqlalchemy import Engine
from sqlalchemy.engine import make_url

from .db import redact
from .wake_triggers import Coverage, channel_for, quote

log = logging.getLogger("zensync.wake")

CONNECT_TIMEOUT_SECONDS = 5  # the first attempt runs in a tick: a host that drops packets costs it this, once
FIRST_RETRY_SECONDS, LAST_RETRY_SECONDS = 1.0, 30.0
# A peer that vanished without a word (a cut network) is noticed within ~60 s instead of the kernel's two hours.
KEEPALIVES = {"keepalives": 1, "keepalives_idle": 30, "keepalives_interval": 10, "keepalives_count": 3}


class NotifyWatch:
    """The watch of store/wake.py for PostgreSQL: stamp() is the count of notifications heard so far."""

    def __init__(self, url: str):
        dialect = make_url(url).get_dialect()()
        args, params = dialect.create_connect_args(make_url(url))
        self._args = tuple(args)
        # The URL's own keepalive settings win; the timeout and the name are the listener's (pg_stat_activity).
        self._params = {**KEEPALIVES, **params, "connect_timeout": CONNECT_TIMEOUT_SECONDS,
                        "application_name": "zensync wake listener"}
        self._where = redact(url)
        self._changed = threading.Condition()
        self._count = 0
        self._connection: Optional[Any] = None
        self.channel: Optional[str] = None
        self.backend_pid: Optional[int] = None
        self._closed = False
        self._wake_thread_r, self._wake_thread_w = os.pipe()  # close() interrupts the thread's select()
        self._coverage = Coverage()
        self._coverage_lock = threading.Lock()
        failed = self._connect()  # in the caller's thread: the tick that makes the watch can wait already
        if failed:
            log.warning(f"sensor ticks do not wait for writes until {self._where} answers ({failed})")
        self._thread = threading.Thread(target=self._listen, name="zensync-wake-listener", daemon=True)
        self._thread.start()

    @property
    def can_wait(self) -> bool:
        return self._connection is not None

    def stamp(self) -> int:
        return self._count

    def wait(self, since: int, deadline: float) -> bool:
        """Until a notification arrived after `since` (True), the monotonic `deadline` passed or the connection is
        lost (False)."""
        with self._changed:
            while self._count == since and self._connection is not None:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._changed.wait(remaining)
            return self._count != since

    def covers(self, engine: Engine, tables: Iterable[str]) -> bool:
        """Whether every table's writes reach the channel (each one's trigger found, once per process)."""
        tables = list(tables)
        if self._coverage.covered.issuperset(tables):
            return True
        with self._coverage_lock:
            return self._coverage.check(engine, tables, time.monotonic())

    def close(self) -> None:
        self._closed = True
        os.write(self._wake_thread_w, b"x")
        self._thread.join(5)
        self._drop()
        os.close(self._wake_thread_r)
        os.close(self._wake_thread_w)

    def _connect(self) -> Optional[str]:
        """Listen on a new connection; None when it does, else why not."""
        connection = None
        try:
            connection = psycopg2.connect(*self._args, **self._params)
            connection.autocommit = True  # LISTEN takes effect at once, and no transaction stays open
            with connection.cursor() as cursor:
                cursor.execute("SELECT current_schema(), pg_backend_pid()")
                schema, pid = cursor.fetchone()
                if schema is None:
                    raise ValueError("no schema of the search_path exists")
                channel = channel_for(schema)
                cursor.execute(f"LISTEN {quote(channel)}")
        except (psycopg2.Error, ValueError) as error:
            if connection is not None:
                connection.close()
            return _first_line(error)
        with self._changed:
            self._connection, self.channel, self.backend_pid = connection, channel, pid
            self._count += 1  # whatever was notified while nobody listened: a stamp from before looks again
            self._changed.notify_all()
        return None

    def _drop(self) -> None:
        with self._changed:
            connection, self._connection, self.backend_pid = self._connection, None, None
            self._changed.notify_all()  # waiting ticks end now
        if connection is not None:
            connection.close()

    def _listen(self) -> None:
        delay = FIRST_RETRY_SECONDS
        while not self._closed:
            connection = self._connection
            if connection is None:
                select.select([self._wake_thread_r], [], [], delay)
                if self._closed:
                    return
                if self._connect() is None:
                    log.info(f"sensor ticks wait for writes again: listening on {self._where}")
                    delay = FIRST_RETRY_SECONDS
                else:  # said once, when the connection was lost
                    delay = min(delay * 2, LAST_RETRY_SECONDS)
                continue
            try:
                select.select([connection, self._wake_thread_r], [], [])
                if self._closed:
                    return
                connection.poll()  # reads what arrived; raises when the server closed the connection
                if connection.notifies:
                    connection.notifies.clear()
                    with self._changed:
                        self._count += 1
                        self._changed.notify_all()
            except Exception as error:  # noqa: BLE001 - whatever broke the connection, the ticks must go on
                log.warning(f"sensor ticks stop waiting for writes until the listener on {self._where} connects "
                            f"again ({_first_line(error)})")
                self._drop()


def _first_line(error: BaseException) -> str:
    message = str(error).strip()
    return message.splitlines()[0] if message else type(error).__name__
