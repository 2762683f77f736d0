"""What every receiver route shares: the context it is built with, the refusal it raises, the capped body read
and the store-then-acknowledge step. The app (app.py) and the route modules (stripe.py, salesforce.py) both
import this module, so neither imports the other.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Callable, Optional, Sequence

from sqlalchemy import Engine
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..engine.spec import CatalogSpec
from ..store.inbox import InboxStore, NewInboundEvent, Unstorable, check_storable
from .groupcommit import GroupCommit, Unavailable
from .logs import refuse
from .routing import TTL_SECONDS, TenantDirectory

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
    tenant_ttl: float = TTL_SECONDS  # how old the receiver's copy of the tenant registry may get

    _inbox: Optional[InboxStore] = field(default=None, init=False, repr=False)
    _writer: Optional[GroupCommit] = field(default=None, init=False, repr=False)
    _tenants: Optional[TenantDirectory] = field(default=None, init=False, repr=False)

    @property
    def inbox(self) -> InboxStore:
        """Built once per engine (a test may swap the engine to take the database away and back)."""
        if self._inbox is None or self._inbox.engine is not self.engine:
            self._inbox = InboxStore(self.engine)
        return self._inbox

    @property
    def tenants(self) -> TenantDirectory:
        """The registry as this worker last read it (routing.py), for the current engine."""
        if self._tenants is None or self._tenants.engine is not self.engine:
            self._tenants = TenantDirectory(self.engine, self.tenant_ttl)
        return self._tenants

    @property
    def writer(self) -> GroupCommit:
        """The app's group commit into the inbox, for the current engine."""
        if self._writer is None or self._writer.inbox is not self.inbox:
            self._writer = GroupCommit(self.inbox)
        return self._writer


@dataclass(frozen=True)
class Receiver:
    system: str
    # The system's routes, or None when it is not configured (its secret unset): then it is not mounted.
    build: Callable[[ReceiverContext], Optional[list[Route]]]


async def read_body(request: Request, limit: int, content_type: Optional[str]) -> bytes:
    """The raw body (signatures cover the exact bytes), refused when too large or of the wrong type (None: the
    caller checks the type), or when the client stops sending it (the server's body deadline closed it)."""
    if content_type is not None and \
            request.headers.get("content-type", "").split(";")[0].strip().lower() != content_type:
        raise Refused(415, f"content type must be {content_type}")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise Refused(413, f"body over {limit} bytes")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise Refused(413, f"body over {limit} bytes")
            chunks.append(chunk)
    except ClientDisconnect:
        raise Refused(408, "the body did not arrive in time or the client went away") from None
    return b"".join(chunks)


async def commit(context: ReceiverContext, events: list[NewInboundEvent], logged: bool = False) -> int:
    """Store the events durably; how many were new. Raises Refused (400) for an event the inbox cannot take and
    Unavailable when the database cannot take it now: the caller answers 5xx, never 2xx. `logged`: the commit's
    log line names each event (GroupCommit.add)."""
    for event in events:
        try:
            check_storable(event)
        except Unstorable as error:
            raise Refused(400, f"event {event.event_id[:64]!r} cannot be stored: {error}") from None
    return await context.writer.add(events, logged)


async def store(request: Request, context: ReceiverContext, system: str,
                events: list[NewInboundEvent]) -> Response:
    """Commit, then acknowledge; the database down is a 503 (the system retries), never a lost event."""
    try:
        added = await commit(context, events, logged=True)  # each event named in its commit's log line
    except Unavailable as error:
        refuse(request, f"inbox unavailable ({error}) for " +
               ", ".join(f"{e.event_id} ({e.event_type})" for e in events))
        return JSONResponse({"error": "inbox unavailable, deliver again"}, status_code=503)
    return stored_response(added)


def stored_response(added: int) -> Response:
    """`{"stored": n}`, the body every acknowledged delivery gets: its bytes built once per count, not encoded
    by JSONResponse per request (~3 % of a Stripe delivery's CPU in py-spy)."""
    body = _STORED.get(added)
    if body is None:
        body = json.dumps({"stored": added}, separators=(",", ":")).encode()
        if len(_STORED) < 1024:
            _STORED[added] = body
    return Response(body, media_type="application/json")


_STORED: dict[int, bytes] = {}
