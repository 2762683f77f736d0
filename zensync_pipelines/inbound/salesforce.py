"""POST /webhooks/salesforce[/<token>]: Salesforce outbound messages into the inbox.

The request cycle (auth layers, defusedxml parse, org check, inbox commit, Ack or SOAP fault) is
`systems.salesforce.outbound_endpoint.receive`; this module only adapts it to the receiver app: the settings are
read once when the app is built (a typo fails `zensync webhooks serve` at start, naming the variable), the
checks that need no body run before the body is read, the body is capped while it streams, and the database work
runs off the event loop. The route is mounted only when SALESFORCE_ORGANIZATION_ID is set.
"""

from __future__ import annotations

import os
from typing import Mapping, Optional

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import config
from ..engine.spec import inbound_routes
from ..systems.salesforce.outbound import CONTENT_TYPE, SYSTEM, OutboundRefused, fault
from ..systems.salesforce.outbound_auth import OutboundSettings
from ..systems.salesforce.outbound_endpoint import receive
from .receiver import Receiver, ReceiverContext, Refused, read_body

PATH = "/webhooks/salesforce"


def settings_from_env(environ: Mapping[str, str] = os.environ) -> Optional[OutboundSettings]:
    """None when Salesforce is not configured (the route is not mounted); a RuntimeError naming the variable when
    it is configured wrongly."""
    if not (environ.get(config.SALESFORCE_ORGANIZATION_ID) or "").strip():
        return None
    try:
        return OutboundSettings.from_env(environ)
    except ValueError as error:
        raise RuntimeError(str(error)) from None


def build_routes(context: ReceiverContext, settings: Optional[OutboundSettings] = None) -> Optional[list[Route]]:
    settings = settings if settings is not None else settings_from_env()
    if settings is None:
        return None
    routes = inbound_routes(context.specs, SYSTEM)

    async def deliver(request: Request) -> Response:
        token = request.path_params.get("token")
        peer = request.client.host if request.client else None
        try:
            settings.check_request(peer, token)  # before reading a byte of a stranger's body
            body = await read_body(request, context.max_body_bytes, None)
        except OutboundRefused as refused:
            return Response(fault(refused.reason, "soapenv:Client"), refused.status, media_type=CONTENT_TYPE)
        except Refused as refused:
            return Response(fault(refused.reason, "soapenv:Client"), refused.status, media_type=CONTENT_TYPE)
        answer = await run_in_threadpool(receive, body, request.headers.get("content-type"), peer, token,
                                         settings, routes, context.inbox, context.max_body_bytes)
        return Response(answer.body, answer.status, media_type=answer.content_type)

    return [Route(PATH, deliver, methods=["POST"]), Route(PATH + "/{token}", deliver, methods=["POST"])]


RECEIVER = Receiver(SYSTEM, build_routes)
