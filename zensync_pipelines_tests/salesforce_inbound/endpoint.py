"""A minimal HTTP server around `outbound_endpoint.receive` for tests (the real receiver app comes with the webhook
receiver): it answers like `/webhooks/salesforce/<token>` will, and records what it was sent and answered."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Optional

from zensync_pipelines.sandbox.salesforce.auth import ORG_ID
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.inbox import InboxStore
from zensync_pipelines.systems.salesforce.outbound import OutboundRefused, parse
from zensync_pipelines.systems.salesforce.outbound_auth import OutboundSettings
from zensync_pipelines.systems.salesforce.outbound_endpoint import receive

ROUTES = {"Account": "customers", "Contact": "customers"}
PREFIX = "/webhooks/salesforce"
TOKEN = "t0ken-for-tests"


class Endpoint:
    def __init__(self, inbox: InboxStore, settings: Optional[OutboundSettings] = None, port: int = 0):
        self.inbox, self.settings = inbox, settings or OutboundSettings(ORG_ID, TOKEN)
        self.messages: list = []  # (content type, parsed message) of every well-formed delivery
        self.statuses: list[int] = []
        self.down_for = 0  # the next N deliveries find the database unreachable
        # SQLite cannot open a file in a directory that does not exist: a database that is down
        self._down = InboxStore(make_engine("sqlite:////nonexistent-dir/zensync/inbox.db"))
        self.lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                token = self.path[len(PREFIX):].strip("/") or None  # /webhooks/salesforce[/<token>]
                with endpoint.lock:
                    inbox = endpoint._down if endpoint.down_for > 0 else endpoint.inbox
                    endpoint.down_for -= 1
                    try:
                        endpoint.messages.append((self.headers["Content-Type"], parse(body)))
                    except OutboundRefused:
                        pass
                answer = receive(body, self.headers["Content-Type"], self.client_address[0], token,
                                 endpoint.settings, ROUTES, inbox)
                with endpoint.lock:
                    endpoint.statuses.append(answer.status)
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.content_type)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}{PREFIX}"
        self.url = f"{self.base}/{TOKEN}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __enter__(self) -> "Endpoint":
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def notifications(self) -> list:
        with self.lock:
            return [n for _, m in self.messages for n in m.notifications]
