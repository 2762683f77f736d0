"""The commit floor: the no-op endpoint (`noop_receiver.py`) plus the receiver's durable commit, and nothing else.

Each delivery's body becomes one inbox row (id from a counter: no signature, no parsing, no checks) and is
answered only after the receiver's own group commit (`inbound/groupcommit.py`, `inbound/pgasync.py`) has
committed it, as the receiver answers. So in the same run the three rates split the receiver's cost in two: the
no-op -> floor step is what committing before the answer costs on this machine (a round trip to PostgreSQL and
its WAL flush, which every client waits for), the floor -> receiver step is the receiver's own work (signature,
JSON, checks, routing, logs). No receiver that acknowledges only committed events can beat the floor.
`python -m benchmarks.commit_floor PORT WORKERS`, with ZENSYNC_DATABASE_URL set.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import sys

from starlette.applications import Starlette

from zensync_pipelines import config
from zensync_pipelines.inbound.groupcommit import GroupCommit
from zensync_pipelines.inbound.server import ServerSettings, serve
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.inbox import InboxStore, NewInboundEvent

from . import noop_receiver

EVENT_TYPE = "benchmark.floor"  # neither an event a spec reads nor a Salesforce envelope: the inbox job skips it


def create_app() -> Starlette:
    """The no-op's app whose routes first commit each body as an inbox row, through the receiver's group commit."""
    writer = GroupCommit(InboxStore(make_engine(config.database_url(), pre_ping=False)))
    numbers = itertools.count()
    worker = os.getpid()  # workers share the inbox: ids of their own

    async def keep(system: str, body: bytes) -> int:
        n = next(numbers)
        return await writer.add([NewInboundEvent(
            system=system, event_id=f"floor_{worker}_{n}", event_type=EVENT_TYPE, catalog="benchmark",
            object_type=EVENT_TYPE, external_id=str(n), occurred_at=dt.datetime.now(dt.timezone.utc),
            payload=body.decode("utf-8", "replace"))])

    return noop_receiver.create_app(keep)


if __name__ == "__main__":
    port, workers = int(sys.argv[1]), int(sys.argv[2])
    serve("benchmarks.commit_floor:create_app", ServerSettings(port=port, workers=workers), log_level="warning")
