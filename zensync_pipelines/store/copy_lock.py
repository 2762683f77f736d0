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
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from sqlalchemy import Engine, text

LOCK_CLASS = 0x7A73  # "zs": the first key of every zensync advisory lock, apart from other applications' locks


@contextmanager
def copy_lock(engine: Engine, tenant: str, catalog: str, system: str, waiting: Callable[[], None] = lambda: None,
              shared: bool = False) -> Iterator[None]:
    """Hold the copy's lock for the block; `waiting()` is called once if another sync holds it now."""
    if engine.dialect.name != "postgresql":
        yield
        return
    key = {"cls": LOCK_CLASS, "key": f"{tenant}:{catalog}.{system}"}
    mode = "_shared" if shared else ""
    with engine.connect() as connection:
        taken = connection.execute(text(f"SELECT pg_try_advisory_lock{mode}(:cls, hashtext(:key))"), key).scalar()
        if not taken:
            waiting()
            connection.execute(text(f"SELECT pg_advisory_lock{mode}(:cls, hashtext(:key))"), key)
        connection.commit()  # no transaction left open for hours beside the lock
        try:
            yield
        finally:
            connection.execute(text(f"SELECT pg_advisory_unlock{mode}(:cls, hashtext(:key))"), key)
            connection.commit()
