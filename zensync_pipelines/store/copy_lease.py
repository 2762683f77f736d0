"""The copy lock as a lease row, for catalog databases reached through a pooler that hands each transaction to any
server connection (PgBouncer in transaction mode), where a session's advisory lock cannot live (copy_lock.py).

The row: `zensync_state`, the copy's tenant, scope "copy_lease", key "<catalog>.<system>", value {"shared": bool,
"holders": {owner: expiry (epoch seconds)}}. Taking, renewing and giving back are each one short transaction that
locks the row (UPDATE ... RETURNING, as store/lanes.py), so every step is a whole transaction and any server
connection may run it. A holder renews its expiry from a thread of its own every third of the lease's length;
a holder that stops renewing (a worker killed with kill -9, a lost machine) loses the lease when it expires, and
the next taker takes it over. So a copy whose sync died stays locked for up to one lease length (60 s by default)
where the advisory lock is freed at once with the dead connection. The clock is the hosts' wall clock, as for the
rate lanes: machines sharing a catalog need clocks in step (NTP).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
import uuid
from contextlib import contextmanager
from typing import Callable, Iterator, Optional

from sqlalchemy import Connection, Engine, delete, update
from sqlalchemy.dialects import postgresql, sqlite

from .tables import state

SCOPE = "copy_lease"
LEASE_SECONDS = 60.0
POLL_SECONDS = 1.0
log = logging.getLogger(__name__)


class CopyLease:
    """One taker's lease on one copy: `take()` until it holds, `renew()` while it syncs, `give_back()` at the end."""

    def __init__(self, engine: Engine, tenant: str, catalog: str, system: str, shared: bool = False,
                 seconds: float = LEASE_SECONDS, clock: Callable[[], float] = time.time):
        self.engine, self.tenant, self.key, self.shared = engine, tenant, f"{catalog}.{system}", shared
        self.seconds, self.clock = seconds, clock
        self.owner = uuid.uuid4().hex
        self.lost = False  # set when a renewal found the lease taken over (this holder had stopped renewing)
        self._insert = (postgresql if engine.dialect.name == "postgresql" else sqlite).insert

    def take(self) -> bool:
        """Hold the lease if it is free, or held only by live shared holders and this taker is shared."""
        with self.engine.begin() as connection:
            value = self._lock_row(connection)
            now = self.clock()
            holders = {o: e for o, e in value["holders"].items() if e > now}  # expired holders are dead
            if holders and not (self.shared and value["shared"]):
                return False
            holders[self.owner] = now + self.seconds
            self._write(connection, {"shared": self.shared, "holders": holders})
            return True

    def renew(self) -> bool:
        """Push this holder's expiry on; False (and `lost`) when it had expired and another took the copy."""
        with self.engine.begin() as connection:
            value = self._lock_row(connection)
            if self.owner not in value["holders"]:
                self.lost = True
                return False
            value["holders"][self.owner] = self.clock() + self.seconds
            self._write(connection, value)
            return True

    def give_back(self) -> None:
        with self.engine.begin() as connection:
            value = self._lock_row(connection)
            value["holders"].pop(self.owner, None)
            now = self.clock()
            if any(e > now for e in value["holders"].values()):
                self._write(connection, value)
            else:  # nobody left: no row kept per copy ever synced
                connection.execute(self._where(delete(state)))

    def _lock_row(self, connection: Connection) -> dict:
        touch = self._where(update(state)).values(updated_at=dt.datetime.now(dt.timezone.utc)) \
            .returning(state.c.value)
        value = connection.execute(touch).scalar()
        if value is None:  # the copy's first lease: a racing creator's row wins, and is then locked here
            connection.execute(self._insert(state).values(
                tenant=self.tenant, scope=SCOPE, key=self.key, value=json.dumps({"shared": False, "holders": {}}),
                updated_at=dt.datetime.now(dt.timezone.utc)).on_conflict_do_nothing())
            value = connection.execute(touch).scalar()
        return json.loads(value)

    def _write(self, connection: Connection, value: dict) -> None:
        connection.execute(self._where(update(state)).values(value=json.dumps(value)))

    def _where(self, statement):  # noqa: ANN001, ANN202 - a statement on this copy's row
        c = state.c
        return statement.where(c.tenant == self.tenant, c.scope == SCOPE, c.key == self.key)


@contextmanager
def copy_lease(engine: Engine, tenant: str, catalog: str, system: str, waiting: Callable[[], None] = lambda: None,
               shared: bool = False, seconds: float = LEASE_SECONDS, poll: float = POLL_SECONDS,
               clock: Callable[[], float] = time.time) -> Iterator[CopyLease]:
    """Hold the copy's lease for the block, renewed every third of `seconds`; `waiting()` once if it is held."""
    lease = CopyLease(engine, tenant, catalog, system, shared=shared, seconds=seconds, clock=clock)
    if not lease.take():
        waiting()
        while not lease.take():
            time.sleep(poll)
    stop = threading.Event()
    renewer = threading.Thread(target=_renew, args=(lease, stop), name=f"copy-lease {lease.key}", daemon=True)
    renewer.start()
    try:
        yield lease
    finally:
        stop.set()
        renewer.join()
        lease.give_back()


def _renew(lease: CopyLease, stop: threading.Event) -> None:
    while not stop.wait(lease.seconds / 3):
        try:
            if not lease.renew():
                log.error("the lease on %s of tenant %s expired before it was renewed and another sync took it",
                          lease.key, lease.tenant)
                return
        except Exception as error:  # a database blip: the next renewal, a third of the lease later, tries again
            log.warning("renewing the lease on %s failed: %s", lease.key, type(error).__name__)


def lease_holders(engine: Engine, tenant: str, catalog: str, system: str) -> Optional[dict]:
    """The copy's lease row as stored (tests, `zensync status`-like views); None when nobody holds it."""
    from sqlalchemy import select

    c = state.c
    with engine.connect() as connection:
        value = connection.execute(select(c.value).where(c.tenant == tenant, c.scope == SCOPE,
                                                         c.key == f"{catalog}.{system}")).scalar()
    return None if value is None else json.loads(value)
