"""The receiver for `zensync dev`: registered with the Stripe sandbox as a webhook endpoint and with the Salesforce
sandbox as its outbound-message URL (secret path token, the org's id), served in a thread."""

from __future__ import annotations

import secrets
import threading
from typing import Any, Optional, Sequence

import stripe
import uvicorn
from sqlalchemy import Engine

from ..catalogs import load_specs
from ..engine.spec import inbound_routes
from ..systems.stripe.inbound import event_types
from ..systems.salesforce.outbound_auth import OutboundSettings
from ..inbound.app import Receiver, ReceiverContext, build_app
from ..inbound.salesforce import PATH as SALESFORCE_PATH
from ..inbound.salesforce import build_routes as salesforce_routes
from ..inbound.server import ServerSettings, uvicorn_config
from ..inbound.stripe import build_routes


def register_endpoint(api_key: str, stripe_url: str, receiver_url: str) -> list[str]:
    """Two webhook endpoints for every event type a spec reads, the platform's own and its Connect endpoint (the
    connected accounts' events, which the receiver routes by their `account` to their tenant); their signing
    secrets (shown once, at creation). Endpoints left by an earlier run at the same URL are replaced, since their
    secrets are not known any more."""
    client = stripe.StripeClient(api_key, base_addresses={"api": stripe_url}, max_network_retries=0)
    for endpoint in client.v1.webhook_endpoints.list(params={"limit": 100}).auto_paging_iter():
        if endpoint.url == receiver_url:
            client.v1.webhook_endpoints.delete(endpoint.id)
    wanted = event_types(sorted(inbound_routes(load_specs(), "stripe")))
    return [client.v1.webhook_endpoints.create(params={"url": receiver_url, "enabled_events": wanted, **connect}).secret
            for connect in ({}, {"connect": True})]


class DevReceiver:
    def __init__(self, engine: Engine, stripe_secrets: list[str], port: int,
                 salesforce: Optional[OutboundSettings] = None):
        receivers = [Receiver("stripe", lambda context: build_routes(context, stripe_secrets))]
        if salesforce is not None:
            receivers.append(Receiver("salesforce", lambda context: salesforce_routes(context, salesforce)))
        app = build_app(ReceiverContext(engine, load_specs()), receivers)
        # The same server settings as `zensync webhooks serve` (deadlines, limits, no trusted proxies).
        self.server = uvicorn.Server(uvicorn_config(app, ServerSettings(port=port), log_level="warning"))
        self.thread: Optional[threading.Thread] = None
        self.url = f"http://127.0.0.1:{port}"
        self.salesforce_url: Optional[str] = None  # set when the Salesforce sandbox sends outbound messages here
        self.outbound_url: Optional[str] = None  # ... with the token: what every org of the sandbox posts to

    def start(self) -> "DevReceiver":
        self.thread = threading.Thread(target=self.server.run, name="zensync-webhooks", daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        if self.thread is not None:
            self.thread.join(timeout=5)


def _salesforce_sandbox(sandboxes: Sequence[Any]) -> Any:
    from ..sandbox.salesforce import SalesforceSandbox

    return next((s for s in sandboxes if isinstance(s, SalesforceSandbox)), None)


def start_dev_receiver(engine: Engine, api_key: str, stripe_url: str, port: int,
                       sandboxes: Sequence[Any] = ()) -> DevReceiver:
    """The receiver; with a Salesforce sandbox running, its outbound messages for Account and Contact go to
    /webhooks/salesforce/<a token made for this run>, checked against the sandbox org's id."""
    signing = register_endpoint(api_key, stripe_url, f"http://127.0.0.1:{port}/webhooks/stripe")
    org = _salesforce_sandbox(sandboxes)
    settings = None
    if org is not None:
        from ..sandbox.salesforce.auth import ORG_ID  # the id the sandbox org reports, as Setup shows a real one

        settings = OutboundSettings(ORG_ID, secrets.token_urlsafe(24))
    receiver = DevReceiver(engine, signing, port, settings).start()
    if org is not None and settings is not None:
        receiver.salesforce_url = f"{receiver.url}{SALESFORCE_PATH}"
        receiver.outbound_url = f"{receiver.salesforce_url}/{settings.token}"
        org.outbound.configure({"*": receiver.outbound_url})
    return receiver
