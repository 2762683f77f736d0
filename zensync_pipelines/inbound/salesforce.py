"""POST /webhooks/salesforce[/<token>]: Salesforce outbound messages into the inbox.

The checks are `systems.salesforce.outbound_endpoint`'s (network and token before the body is read, then content
type, defusedxml parse and org); this module runs them in the receiver app: the settings are read once when the
app is built (a typo fails `zensync webhooks serve` at start, naming the variable), the body is capped while it
streams, the message goes through the receiver's inbox commit as one envelope row (split into notifications by the
inbox job), and the Ack is sent only after it. Every
refusal is a SOAP fault, logged once by the app. The route is mounted only when SALESFORCE_ORGANIZATION_ID is
set.

The OrganizationId routes a message to its tenant (docs/tenants.md#inbound-routing): the configured org is the
default tenant's, a registered active tenant's org is that tenant's, any other org or a disabled tenant's is
refused (403), nothing stored.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Mapping, Optional

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from .. import config
from ..engine.spec import inbound_routes
from ..systems.salesforce.ids import canonical
from ..systems.salesforce.outbound import (CONTENT_TYPE, SYSTEM, OutboundMessage, OutboundRefused, ack,
                                           check_content_type, fault, parse)
from ..systems.salesforce.outbound_envelope import envelope_event
from ..systems.salesforce.outbound_auth import OutboundSettings
from .logs import log, refuse
from .receiver import Receiver, ReceiverContext, Refused, Unavailable, commit, read_body

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


async def route_by_org(context: ReceiverContext, own_org: Optional[str], message: OutboundMessage) -> Optional[str]:
    """The tenant of a parsed message by its OrganizationId: None (the default tenant) for the deployment's own
    org (SALESFORCE_ORGANIZATION_ID), without a registry lookup; a registered active tenant's org: that tenant; any
    other org is refused as before tenants, a disabled tenant's too (403, nothing stored)."""
    org = canonical(message.organization_id)  # parse() refused a message whose OrganizationId is not an id
    if org == own_org:
        return None
    route = (await context.tenants.snapshot()).by_salesforce_org.get(org)
    if route is None:
        raise OutboundRefused("organization_mismatch", "the message comes from another organization", 403)
    if not route.active:
        raise OutboundRefused("tenant_disabled", f"tenant {route.id} (org {org}) is {route.status}", 403)
    return route.id


def build_routes(context: ReceiverContext, settings: Optional[OutboundSettings] = None) -> Optional[list[Route]]:
    settings = settings if settings is not None else settings_from_env()
    if settings is None:
        return None
    routes = inbound_routes(context.specs, SYSTEM)
    own_org = canonical(settings.organization_id)

    def answer(request: Request, status: int, reason: str, told: str, code: str = "soapenv:Client") -> Response:
        """A SOAP fault telling the sender `told`; the log line gets `reason`."""
        refuse(request, reason)
        return Response(fault(told, code), status, media_type=CONTENT_TYPE)

    async def deliver(request: Request) -> Response:
        token = request.path_params.get("token")
        peer = request.client.host if request.client else None
        try:
            settings.check_request(peer, token)  # before reading a byte of a stranger's body
            body = await read_body(request, context.max_body_bytes, None)
            check_content_type(request.headers.get("content-type"))
            # Parsing is CPU work of a millisecond or two: done on the loop, a thread would only add a hop.
            message = parse(body, context.max_body_bytes)
            tenant = await route_by_org(context, own_org, message)
            # One envelope row for the whole message, split into notifications by the inbox job: see
            # systems/salesforce/outbound_envelope.py for why, and what it keeps.
            envelope = envelope_event(message, routes, dt.datetime.now(dt.timezone.utc), tenant)
            stored = await commit(context, [envelope]) if envelope else 0
        except OutboundRefused as refused:
            return answer(request, refused.status, f"{refused.code}: {refused.reason}", refused.reason)
        except Refused as refused:
            return answer(request, refused.status, refused.reason, refused.reason)
        except Unavailable as error:
            # HTTP 500 with a fault: Salesforce keeps the message and delivers it again.
            return answer(request, 500, f"inbox unavailable ({error}) for message {message.action_id}",
                          "temporarily unable to store the notifications; retry later", "soapenv:Server")
        log.info("salesforce: outbound message %s: %d notifications, %s, ids %s%s", message.action_id,
                 len(message.notifications), "nothing a catalog takes in" if envelope is None else
                 f"stored as envelope {envelope.event_id}" if stored else f"a duplicate of {envelope.event_id}",
                 ",".join(n.id for n in message.notifications[:5]), f", tenant {tenant}" if tenant else "")
        return Response(ack(), 200, media_type=CONTENT_TYPE)

    return [Route(PATH, deliver, methods=["POST"]), Route(PATH + "/{token}", deliver, methods=["POST"])]


RECEIVER = Receiver(SYSTEM, build_routes)
