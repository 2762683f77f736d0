"""The receiver's inbox INSERT on PostgreSQL on the event loop itself: psycopg2's asynchronous connections, whose
socket the loop watches, instead of a writer thread per commit.

A thread cost every batch a hand-off each way, SQLAlchemy's connection wrapping and the GIL passed back and forth
between the loop and the writer while the loop parsed the next requests. An asynchronous psycopg2 connection runs
each statement in autocommit, which is what the receiver wants: one multi-row INSERT is one transaction, and the
statement returns only once PostgreSQL committed it, so a delivery is still answered only after its own commit.
"""

from __future__ import annotations

import asyncio
from typing import Any, Sequence

import psycopg2
from psycopg2 import extensions
from sqlalchemy import Engine

from ..store.inbox import InboxStore, NewInboundEvent

CONNECT_TIMEOUT_SECONDS = 10


def outage(error: BaseException) -> bool:
    """psycopg2's own OperationalError: the server is unreachable, or it dropped the connection."""
    return isinstance(error, psycopg2.OperationalError)


class AsyncInbox:
    """`InboxStore.add_new` for PostgreSQL, awaited on the loop; keeps a connection per writer between batches."""

    def __init__(self, inbox: InboxStore, engine: Engine):
        self.inbox = inbox
        args, params = engine.dialect.create_connect_args(engine.url)
        self._args, self._params = tuple(args), {"connect_timeout": CONNECT_TIMEOUT_SECONDS, **params}
        self._idle: list[Any] = []

    async def add_new(self, events: Sequence[NewInboundEvent]) -> set[tuple[str, str, str]]:
        # Every event passed check_storable when its delivery was queued (receiver.commit): not checked twice.
        statement, parameters = self.inbox.insert_statement(events, checked=True)
        connection = self._idle.pop() if self._idle else await self._connect()
        try:
            cursor = connection.cursor()
            cursor.execute(statement, parameters)
            await _ready(connection)
            new = set(cursor.fetchall())  # (tenant, system, event id) of the rows that were new
        except BaseException:
            connection.close()  # whatever state it is in, it is not reused
            raise
        self._idle.append(connection)
        return new

    async def _connect(self) -> Any:
        connection = psycopg2.connect(*self._args, **self._params, async_=True)
        try:
            await _ready(connection)
        except BaseException:
            connection.close()
            raise
        return connection


async def _ready(connection: Any) -> None:
    """Drive the connection's poll() until its operation is done, waiting on its socket in between."""
    loop = asyncio.get_running_loop()
    while True:
        state = connection.poll()  # raises the statement's error, if any
        if state == extensions.POLL_OK:
            return
        waiter: asyncio.Future[None] = loop.create_future()
        fd = connection.fileno()
        add, remove = (loop.add_reader, loop.remove_reader) if state == extensions.POLL_READ else \
            (loop.add_writer, loop.remove_writer)
        add(fd, lambda: waiter.done() or waiter.set_result(None))
        try:
            await waiter
        finally:
            remove(fd)
