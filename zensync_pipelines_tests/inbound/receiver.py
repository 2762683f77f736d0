"""The receiver in a thread on a free port (real HTTP through uvicorn), and a TCP proxy that can take the
database away from it."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from typing import Iterator, Optional

import uvicorn

from zensync_pipelines.catalogs import load_specs
from zensync_pipelines.inbound.app import Receiver, ReceiverContext, build_app
from zensync_pipelines.inbound.salesforce import build_routes as salesforce_routes
from zensync_pipelines.inbound.server import ServerSettings, uvicorn_config
from zensync_pipelines.inbound.stripe import build_routes
from zensync_pipelines_tests.conftest import free_port, wait_for_port


@contextlib.contextmanager
def serving(app, **settings) -> Iterator[str]:
    """`app` on the receiver's own server configuration (deadlines, limits, proxies), on a free port."""
    port = free_port()
    config = uvicorn_config(app, ServerSettings(port=port, **settings), log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for_port(port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@contextlib.contextmanager
def receiver(engine, secrets: list[str], max_body_bytes: int = 1024 * 1024, salesforce=None,
             **settings) -> Iterator[str]:
    """The Stripe route (and the Salesforce one, given its OutboundSettings) on the receiver's server."""
    context = ReceiverContext(engine, load_specs(), max_body_bytes)
    receivers = [Receiver("stripe", lambda c: build_routes(c, secrets))]
    if salesforce is not None:
        receivers.append(Receiver("salesforce", lambda c: salesforce_routes(c, salesforce)))
    with serving(build_app(context, receivers), **settings) as url:
        yield url


class Proxy:
    """Forwards 127.0.0.1:<port> to a target; `down()` refuses and cuts every connection, `up()` restores."""

    def __init__(self, target_port: int):
        self.target_port, self.port = target_port, free_port()
        self._listener: Optional[socket.socket] = None
        self._open: list[socket.socket] = []
        self.up()

    def up(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self.port), reuse_port=False)
        threading.Thread(target=self._accept, args=(self._listener,), daemon=True).start()

    def down(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone leaves that call, and so the port,
            # accepting one more connection.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for sock in self._open:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()
        self._open.clear()
        time.sleep(0.05)

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.target_port))
            self._open += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                sink.shutdown(socket.SHUT_WR)
