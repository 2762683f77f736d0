"""The receiver's logs: every value printed with its control characters escaped, and every refusal on every route
logged once, with the route, the status and the reason.

What a client sends (an event id, an ActionId, a path) ends up in log lines; a newline in it would forge a
line of its own, an escape sequence would repaint an operator's terminal. So the message is escaped as a whole
after formatting, for every logger the receiver writes through, whoever formats the line. Routes never log their
own refusals: they put the reason in the request's state and `RefusalLog` writes the one line, so a refusal
raised anywhere (a route, Starlette's 404 and 405, a body cut off by its deadline) is logged exactly once.
"""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any, Optional

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("zensync.webhooks")
# The loggers a receiver's line goes through: its own, the Salesforce endpoint's, uvicorn's (bad HTTP, the
# concurrency cap).
LOGGERS = ("zensync.webhooks", "zensync_pipelines.systems.salesforce.outbound_endpoint", "uvicorn.error")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_MAX_PATH = 120  # an unknown path is the client's text: print enough to recognise it, not a megabyte


def escape(value: object) -> str:
    """`value` as text with control characters as `\\xNN` (or `\\uNNNN`), so it stays on its line."""
    text = str(value)
    if not _CONTROL.search(text):
        return text
    return _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", text)


class EscapeControlCharacters(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        escaped = escape(message)
        if escaped is not message:
            record.msg, record.args = escaped, None
        return True


def install() -> None:
    """Escape every line of the receiver's loggers (idempotent: one filter per logger)."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, EscapeControlCharacters) for f in logger.filters):
            logger.addFilter(EscapeControlCharacters())


def refuse(request: Request, reason: str) -> None:
    """Record why the request is refused; `RefusalLog` logs it with the status the route answers."""
    request.state.refusal = reason


def route_of(scope: Scope) -> str:
    """The route's template (`/webhooks/salesforce/{token}`: never the token itself); for a path no route
    matched, its first two segments only (`/webhooks/salesforce/<token>/` must not print the token either)."""
    route = scope.get("route")
    if route is not None and getattr(route, "path", None):
        return str(route.path)
    segments = str(scope.get("path", "")).split("/")
    shown = "/".join(segments[:3]) + ("/..." if len(segments) > 3 else "")
    return shown if len(shown) <= _MAX_PATH else shown[:_MAX_PATH] + "..."


class RefusalLog:
    """Pure ASGI middleware: one warning per answer of 400 or more (5xx: an error), nothing for the rest."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status: Optional[int] = None

        async def watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, watch)
        finally:
            if status is not None and status >= 400:
                _log_refusal(scope, status)


def _log_refusal(scope: Scope, status: int) -> None:
    state: dict[str, Any] = scope.get("state") or {}
    reason = state.get("refusal") or HTTPStatus(status).phrase
    client = scope.get("client")
    level = logging.ERROR if status >= 500 else logging.WARNING
    log.log(level, "%s %s refused %d: %s (client %s)", scope.get("method"), route_of(scope), status, reason,
            client[0] if client else "unknown")
