"""The receiver for `zensync dev`: registered with the Stripe sandbox as a webhook endpoint, served in a thread."""

from __future__ import annotations

import threading
from typing import Optional

import stripe
import uvicorn
from sqlalchemy import Engine

from ..catalogs import load_specs
from ..engine.spec import inbound_routes
from ..systems.stripe.inbound import event_types
from .app import Receiver, ReceiverContext, build_app
from .stripe import build_routes


def register_endpoint(api_key: str, stripe_url: str, receiver_url: str) -> str:
    """A webhook endpoint for every event type a spec reads; its signing secret (shown once, at creation).
    An endpoint left by an earlier run at the same URL is replaced, since its secret is not known any more."""
    client = stripe.StripeClient(api_key, base_addresses={"api": stripe_url}, max_network_retries=0)
    for endpoint in client.v1.webhook_endpoints.list(params={"limit": 100}).auto_paging_iter():
        if endpoint.url == receiver_url:
            client.v1.webhook_endpoints.delete(endpoint.id)
    wanted = event_types(sorted(inbound_routes(load_specs(), "stripe")))
    created = client.v1.webhook_endpoints.create(params={"url": receiver_url, "enabled_events": wanted})
    return created.secret


class DevReceiver:
    def __init__(self, engine: Engine, secret: str, port: int):
        app = build_app(ReceiverContext(engine, load_specs()),
                        [Receiver("stripe", lambda context: build_routes(context, [secret]))])
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
        self.thread: Optional[threading.Thread] = None
        self.url = f"http://127.0.0.1:{port}"

    def start(self) -> "DevReceiver":
        self.thread = threading.Thread(target=self.server.run, name="zensync-webhooks", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=5)


def start_dev_receiver(engine: Engine, api_key: str, stripe_url: str, port: int) -> DevReceiver:
    secret = register_endpoint(api_key, stripe_url, f"http://127.0.0.1:{port}/webhooks/stripe")
    return DevReceiver(engine, secret, port).start()
