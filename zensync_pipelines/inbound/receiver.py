"""What every receiver route shares: the context it is built with, the refusal it raises, the capped body read
and the store-then-acknowledge step. The app (app.py) and the route modules (stripe.py, salesforce.py) both
import this module, so neither imports the other.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Optional, Sequence

from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from ..engine.spec import CatalogSpec
from ..store.inbox import InboxStore, NewInboundEvent

log = logging.getLogger("zensync.webhooks")
MAX_BODY_BYTES = 1024 * 1024  # Stripe's events are a few kB; anything near this is not a webhook


class Refused(Exception):
    """A request to answer with a 4xx and a short reason; nothing is stored."""

    def __init__(self, status: int, reason: str):
        super().__init__(reason)
        self.status, self.reason = status, reason


@dataclass
class ReceiverContext:
    engine: Engine
    specs: Sequence[CatalogSpec]
    max_body_bytes: int = MAX_BODY_BYTES

    @property
    def inbox(self) -> InboxStore:
        return InboxStore(self.engine)


@dataclass(frozen=True)
class Receiver:
    system: str
    # The system's routes, or None when it is not configured (its secret unset): then it is not mounted.
    build: Callable[[ReceiverContext], Optional[list[Route]]]


async def read_body(request: Request, limit: int, content_type: Optional[str]) -> bytes:
    """The raw body (signatures cover the exact bytes), refused when too large or of the wrong type (None: the
    caller checks the type)."""
    if content_type is not None and \
            request.headers.get("content-type", "").split(";")[0].strip().lower() != content_type:
        raise Refused(415, f"content type must be {content_type}")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Refused(413, f"body over {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise Refused(413, f"body over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


async def store(context: ReceiverContext, system: str, events: list[NewInboundEvent]) -> JSONResponse:
    """Commit, then acknowledge; the database down is a 503 (the system retries), never a lost event."""
    try:
        added = await run_in_threadpool(context.inbox.add, events)
    except Exception as error:  # any failure to commit: the event is not safe, so it is not acknowledged
        log.error("%s: inbox unavailable (%s); answered 503 for %s", system, type(error).__name__,
                  ", ".join(f"{e.event_id} ({e.event_type})" for e in events))
        return JSONResponse({"error": "inbox unavailable, deliver again"}, status_code=503)
    for event in events:
        log.info("%s: %s (%s) %s", system, event.event_id, event.event_type, "stored" if added else "duplicate")
    return JSONResponse({"stored": added})
