"""Group commit: the deliveries that arrive together are written to the inbox in one transaction.

A writer (WRITERS per process) drains a queue: while a commit runs, the deliveries that arrive wait, and the next
commit takes all of them (up to MAX_EVENTS events). A quiet receiver commits each delivery at once, alone (no batching
window, so no added latency); a burst shares its commits, so the database does one commit, one round trip and
one WAL flush for many deliveries instead of one each. Each delivery is answered only once the commit holding its
own rows has returned, so an acknowledged event is as durable as before.

A batch that fails as a whole (the database is down) fails every delivery in it: each is answered 5xx and
delivered again. A batch that fails for another reason is written again one delivery at a time, so a row the
database refuses fails only the delivery that brought it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.exc import DBAPIError, OperationalError

from ..store.inbox import InboxStore, NewInboundEvent
from .pgasync import AsyncInbox, outage

log = logging.getLogger("zensync.webhooks")
# One commit in flight per process: what arrives meanwhile waits (well under a millisecond) and goes out together in
# the next. PostgreSQL's CPU is mostly per statement (~0.25 ms to parse, plan, fire the wake trigger and commit,
# ~0.02 ms per row), and it shares the cores with the receiver: two writers made smaller batches (8 clients: 2.7
# deliveries a commit against 3.5) and cost ~10 % of the rate (docs/performance.md section 7).
WRITERS = 1
# Before taking a batch the writer lets the event loop turn up to SETTLE times, while the queue still grows: the
# handlers of requests that arrived with the first (their bytes read in the same turn) take a few turns to parse
# and verify before they queue, and without this a burst's first delivery went out alone and the rest waited for
# it. No timer: a lone delivery costs one turn (microseconds). 8 clients: 3.5 -> 4-7 deliveries a commit and
# 15-30 % more events/s (docs/performance.md section 7).
SETTLE = 4
MAX_EVENTS = 2000  # per transaction: a burst of Salesforce messages (100 notifications each) still commits often


class Unavailable(Exception):
    """The inbox could not commit; the text names the error's type only (its message may quote the payload)."""


def _outage(error: Exception) -> bool:
    """The database as a whole is unreachable or broken (retrying row by row would only wait longer)."""
    return isinstance(error, OperationalError) or (isinstance(error, DBAPIError) and error.connection_invalidated) \
        or outage(error)


class GroupCommit:
    def __init__(self, inbox: InboxStore):
        self.inbox = inbox
        self._waiting: deque[tuple[list[NewInboundEvent], asyncio.Future[int]]] = deque()
        self._logged: set[asyncio.Future[int]] = set()  # deliveries whose events the commit's log line names
        self._writers: set[asyncio.Task[None]] = set()
        # At most WRITERS commits at a time: on PostgreSQL awaited on the loop (pgasync), elsewhere on threads.
        self._async = AsyncInbox(inbox, inbox.engine) if inbox.engine.dialect.name == "postgresql" else None
        self._threads = None if self._async else ThreadPoolExecutor(WRITERS, thread_name_prefix="zensync-inbox")

    async def add(self, events: list[NewInboundEvent], logged: bool = False) -> int:
        """Store `events` durably; how many were new. Raises Unavailable when they could not be committed.
        `logged`: the commit's one log line names each event, stored or duplicate (a line per event cost ~50 µs,
        a fifth of a Stripe delivery's own CPU)."""
        loop = asyncio.get_running_loop()
        done: asyncio.Future[int] = loop.create_future()
        if logged:
            self._logged.add(done)
        self._waiting.append((events, done))
        if len(self._writers) < WRITERS:
            writer = loop.create_task(self._drain())
            self._writers.add(writer)
        return await done

    async def _drain(self) -> None:
        # The writer leaves the count in the same step in which it sees nothing waiting, not in a done-callback:
        # a callback runs a turn later, and a delivery queued in between found the writers "busy" and waited for
        # ever (with 32 clients, every client could end up waiting on one).
        try:
            while self._waiting:
                for _ in range(SETTLE):  # handlers already running reach the queue first (see SETTLE)
                    queued = len(self._waiting)
                    await asyncio.sleep(0)
                    if len(self._waiting) == queued:
                        break
                batch, size = [], 0
                while self._waiting and (not batch or size + len(self._waiting[0][0]) <= MAX_EVENTS):
                    events, done = self._waiting.popleft()
                    batch.append((events, done))
                    size += len(events)
                await self._commit(batch)
        finally:
            self._writers.discard(asyncio.current_task())  # type: ignore[arg-type]

    async def _commit(self, batch: list[tuple[list[NewInboundEvent], asyncio.Future[int]]]) -> None:
        loop = asyncio.get_running_loop()
        events = [event for delivery, _ in batch for event in delivery]
        try:
            new = await self._async.add_new(events) if self._async else \
                await loop.run_in_executor(self._threads, self.inbox.add_new, events)
        except Exception as error:  # any failure to commit: these events are not safe, so none is acknowledged
            if len(batch) > 1 and not _outage(error):
                for delivery in batch:
                    await self._commit([delivery])
                return
            for _, done in batch:
                if not done.done():
                    done.set_exception(Unavailable(type(error).__name__))
            return
        tenant = self.inbox.tenant  # an event that names no tenant is stored under the store's
        named = []
        for delivery, done in batch:
            count = 0
            for event in delivery:
                key = (event.tenant or tenant, event.system, event.event_id)
                stored = key in new
                if stored:  # the first delivery of an event the batch carried twice counts it
                    new.discard(key)
                    count += 1
                if done in self._logged:
                    named.append(f"{event.system}: {event.event_id} ({event.event_type}) "
                                 f"{'stored' if stored else 'duplicate'}"
                                 f"{f' for tenant {event.tenant}' if event.tenant else ''}")
            self._logged.discard(done)
            if not done.done():
                done.set_result(count)
        if named:
            log.info("%s", "; ".join(named))
