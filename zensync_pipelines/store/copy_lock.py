"""One sync of a copy (tenant, catalog, system) at a time, whichever process or machine runs it.

The run queue allows one run per copy (`zensync/copy`), but it counts runs: a fan-out run's step for a tenant and
that tenant's own sensor run are two steps of one copy that the queue cannot tell apart. Two syncs of the same
rows at once would each plan from what the other has not committed yet; if a row changed between their reads,
their writes carry different fingerprints, so different idempotency keys, and a first sync could create a row's
object twice. On PostgreSQL each sync holds a session advisory lock on its copy while it runs; the second waits.
The lock lives on its own connection, so a worker killed mid-step (its connection dropped) releases it at once.
SQLite serves one machine, where the run queue's copy tag is the only guard (no fan-out spreads there).

A fan-out run's steps for disjoint month ranges of one tenant read disjoint rows: they share the lock with each
other (`shared=True`) and together keep every whole sync of the copy out, as it keeps them out.

A session's advisory lock needs the session: behind a pooler that hands each transaction to any server connection
(PgBouncer in transaction mode) it would stay on whichever connection took it. ZENSYNC_COPY_LOCK=lease keeps the
lock as a lease row instead (copy_lease.py), which works through any pooler and on SQLite too, at the price of a
dead holder's copy staying locked until its lease expires (60 s). In advisory mode each sync checks that its next
transaction still runs in the session that took the lock, and fails with one line naming the setting when not.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Callable, Iterator

from sqlalchemy import Engine, text

from .. import config
from .copy_lease import copy_lease

LOCK_CLASS = 0x7A73  # "zs": the first key of every zensync advisory lock, apart from other applications' locks
# The second key: the copy within its catalog database. PostgreSQL scopes advisory locks by database, not by
# schema, so the schema is part of it: catalogs kept as schemas of one database (a host per schema, the test suite's
# parallel workers) have their own copies, which must not wait for each other.
LOCK_KEY_SQL = "hashtext(coalesce(current_schema(), '') || ':' || :key)"
ADVISORY, LEASE = "advisory", "lease"


class CopyLockError(RuntimeError):
    """The copy lock cannot hold with these settings; the message is one line naming the fix."""


def lock_mode() -> str:
    mode = (os.environ.get(config.COPY_LOCK) or ADVISORY).strip().lower()
    if mode not in (ADVISORY, LEASE):
        raise CopyLockError(f"{config.COPY_LOCK}={mode!r} is not one of {ADVISORY}, {LEASE}")
    return mode


@contextmanager
def copy_lock(engine: Engine, tenant: str, catalog: str, system: str, waiting: Callable[[], None] = lambda: None,
              shared: bool = False) -> Iterator[None]:
    """Hold the copy's lock for the block; `waiting()` is called once if another sync holds it now."""
    if lock_mode() == LEASE:
        with copy_lease(engine, tenant, catalog, system, waiting, shared=shared):
            yield
        return
    if engine.dialect.name != "postgresql":
        yield
        return
    key = {"cls": LOCK_CLASS, "key": f"{tenant}:{catalog}.{system}"}
    mode = "_shared" if shared else ""
    with engine.connect() as connection:
        taken = connection.execute(text(f"SELECT pg_try_advisory_lock{mode}(:cls, {LOCK_KEY_SQL})"), key).scalar()
        if not taken:
            waiting()
            connection.execute(text(f"SELECT pg_advisory_lock{mode}(:cls, {LOCK_KEY_SQL})"), key)
        session = connection.execute(text("SELECT pg_backend_pid()")).scalar()
        connection.commit()  # no transaction left open for hours beside the lock
        if connection.execute(text("SELECT pg_backend_pid()")).scalar() != session:
            # The next transaction went to another server connection: the lock stays behind on the first one.
            raise CopyLockError(f"the catalog database's connections are pooled per transaction (PgBouncer's "
                                f"transaction mode?), where a session's advisory lock cannot hold: set "
                                f"{config.COPY_LOCK}={LEASE}")
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text(f"SELECT pg_advisory_unlock{mode}(:cls, {LOCK_KEY_SQL})"), key)
            connection.commit()
