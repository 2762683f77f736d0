"""A minimal outbound-message endpoint for tests, built on zensync's parser and inbox (the real receiver app
comes with the webhook receiver): it stores every routed notification and Acks only after the inbox commit."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from zensync_pipelines.store.inbox import InboxStore
from zensync_pipelines.systems.salesforce.outbound import ack, fault, parse, to_events

ROUTES = {"Account": "customers", "Contact": "customers"}


class Endpoint:
    """Stores every notification in the inbox and Acks only after the commit; can be told to fail."""

    def __init__(self, inbox: InboxStore):
        self.inbox, self.messages, self.failures_left = inbox, [], 0
        self.lock = threading.Lock()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with endpoint.lock:
                    failing = endpoint.failures_left > 0
                    endpoint.failures_left -= failing
                    message = parse(body)
                    endpoint.messages.append((self.headers["Content-Type"], message))
                if failing:
                    self._answer(500, fault("database unavailable"))
                    return
                endpoint.inbox.add(to_events(message, ROUTES))
                self._answer(200, ack())

            def _answer(self, status: int, body: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "text/xml; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/webhooks/salesforce/tok"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __enter__(self) -> "Endpoint":
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def notifications(self) -> list:
        with self.lock:
            return [n for _, m in self.messages for n in m.notifications]
