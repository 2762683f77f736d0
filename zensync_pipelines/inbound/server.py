"""The receiver's HTTP server: uvicorn, with the deadlines and limits a server on the internet needs.

uvicorn alone times out only the idle gap between two requests, and any byte resets that timer: a client that
sends half a request and stops (or one byte a minute) holds its connection for ever, and a thousand of them hold
the receiver. `DeadlineProtocol` gives each request a deadline for its headers (from its first byte, or from the
connection's opening) and one for its body (from the end of the headers), and closes the connection when either
passes. Beside it: a cap on open connections (uvicorn answers 503 above it), the keep-alive timeout, and
forwarded addresses trusted only from the proxies named in ZENSYNC_TRUSTED_PROXIES (uvicorn trusts 127.0.0.1 by
default, so any local process could claim an address in the Salesforce allow-list).
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
from dataclasses import dataclass
from typing import Any, Mapping, Optional

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.supervisors import Multiprocess

TRUSTED_PROXIES = "ZENSYNC_TRUSTED_PROXIES"
log = logging.getLogger("zensync.webhooks")


@dataclass(frozen=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 8787
    workers: int = 1
    header_timeout: float = 10.0  # a request's line and headers, from its first byte (Stripe sends them at once)
    body_timeout: float = 30.0  # its body, from the end of the headers: 1 MB at a slow 40 kB/s
    keep_alive: float = 5.0  # an idle kept-alive connection is closed after this long
    max_connections: int = 2048  # above it, new requests are answered 503 (each connection costs a descriptor)
    trusted_proxies: tuple[str, ...] = ()  # addresses/networks whose X-Forwarded-For is believed; none by default
    # On SIGTERM, deliveries in flight get this long to commit and be answered; then their connections are cut.
    # uvicorn's default waits for ever (a second SIGTERM does not force it), so one stuck connection would hold a
    # stop until the service manager's SIGKILL. A delivery cut off was never acknowledged: the system sends it again.
    shutdown_timeout: float = 10.0

    @staticmethod
    def proxies_from_env(environ: Mapping[str, str] = os.environ) -> tuple[str, ...]:
        """ZENSYNC_TRUSTED_PROXIES as a tuple of networks; a ValueError naming the variable for a typo."""
        proxies = []
        for item in (environ.get(TRUSTED_PROXIES) or "").split(","):
            if item.strip():
                try:
                    proxies.append(str(ipaddress.ip_network(item.strip(), strict=False)))
                except ValueError:
                    raise ValueError(f"{TRUSTED_PROXIES}: not an address or network: {item.strip()!r}") from None
        return tuple(proxies)


class DeadlineProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline on reading each request (see the module's docstring)."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._deadline: Optional[asyncio.TimerHandle] = None
        super().connection_made(transport)
        self._arm(self.config.zensync_header_timeout, "headers")  # a connection that never sends a byte too

    def connection_lost(self, exc: Optional[Exception]) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._arm(self.config.zensync_header_timeout, "headers")

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._arm(self.config.zensync_body_timeout, "body")

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._disarm()  # the next request's first byte arms its own; meanwhile uvicorn's keep-alive timer runs

    def _arm(self, seconds: float, part: str) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expire, part, seconds)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self, part: str, seconds: float) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if part == "headers":  # no route saw it: the refusal is logged here, once
            client = self.client[0] if self.client else "unknown"
            log.warning("connection closed: request headers not received within %g s (client %s)", seconds, client)
        # A body cut off here ends the route's read with a 408 that the app logs, with its route.
        self.transport.close()


def uvicorn_config(app: Any, settings: ServerSettings, log_level: str = "info",
                   factory: bool = False) -> uvicorn.Config:
    """The uvicorn Config of the receiver; `app` is the ASGI app, or an import string of a factory (workers)."""
    proxies = ",".join(settings.trusted_proxies)
    config = uvicorn.Config(
        app, host=settings.host, port=settings.port, workers=settings.workers, factory=factory,
        http=DeadlineProtocol, loop="auto", log_level=log_level, access_log=False, server_header=False,
        timeout_keep_alive=max(1, round(settings.keep_alive)), limit_concurrency=settings.max_connections,
        proxy_headers=bool(proxies), forwarded_allow_ips=proxies or None,
        timeout_graceful_shutdown=settings.shutdown_timeout)
    # Read by DeadlineProtocol; plain attributes, so they travel with the Config to the worker processes.
    config.zensync_header_timeout = settings.header_timeout
    config.zensync_body_timeout = settings.body_timeout
    return config


def serve(app: Any, settings: ServerSettings, log_level: str = "info") -> None:
    """Run until stopped. With several workers `app` must be the import string of a factory: each worker process
    builds its own app (its own database pool and writer); they share the listening socket."""
    config = uvicorn_config(app, settings, log_level, factory=isinstance(app, str))
    if settings.workers > 1:
        _Supervisor(config, sockets=[config.bind_socket()]).run()
    else:
        uvicorn.Server(config).run()


class _Supervisor(Multiprocess):
    """uvicorn's worker supervisor, minus a race at stop: a service manager sends SIGTERM to the whole group, and
    a worker that exits on it before the supervisor has handled its own SIGTERM looked dead to the supervisor,
    which started a replacement in the middle of the stop. A queued signal now comes first."""

    def keep_subprocess_alive(self) -> None:
        if self.signal_queue:
            return
        super().keep_subprocess_alive()
