"""POST /webhooks/stripe: Stripe's signed events into the inbox.

The signature is checked with the stripe SDK on the raw body, against each secret of STRIPE_WEBHOOK_SECRET (a
comma-separated list, so a rotated secret and its successor both pass while Stripe signs with both), with
Stripe's 300 s tolerance against replays. Only then is the body parsed. Event types no spec reads are answered
200 and dropped. Logs name the event id and type, never the secret, the signature or the payload.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any, Mapping, Optional

import stripe
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..engine.spec import inbound_routes
from ..systems.stripe.inbound import SYSTEM, to_inbox_event
from ..store.inbox import NewInboundEvent
from .logs import refuse
from .receiver import Receiver, ReceiverContext, Refused, read_body, store

log = logging.getLogger("zensync.webhooks")
SECRET_ENV = "STRIPE_WEBHOOK_SECRET"
TOLERANCE_SECONDS = 300  # Stripe's own default
MAX_CREATED = 253402300799  # 9999-12-31T23:59:59Z: the last second a datetime (and the inbox) can hold


def secrets_from_env() -> list[str]:
    return [part.strip() for part in os.environ.get(SECRET_ENV, "").split(",") if part.strip()]


def verify(payload: str, header: Optional[str], secrets: list[str]) -> None:
    if not header:
        raise Refused(400, "missing Stripe-Signature header")
    stale = False
    for secret in secrets:
        try:
            stripe.WebhookSignature.verify_header(payload, header, secret, tolerance=TOLERANCE_SECONDS)
            return
        except stripe.SignatureVerificationError as error:
            stale = stale or "tolerance" in str(error)
    raise Refused(400, "signature timestamp outside the 300 s tolerance" if stale else "bad signature")


def to_row(event: Any, routes: Mapping[str, str], payload: str) -> Optional[NewInboundEvent]:
    """The inbox row of a verified event, None for a type no spec reads; Refused (400) for a body that is not a
    Stripe event. Only what the row is built from is checked: Stripe adds fields to events over time."""
    if not isinstance(event, dict):
        raise Refused(400, "body is not a Stripe event: not a JSON object")
    for name in ("id", "type"):
        if not isinstance(event.get(name), str) or not event[name]:
            raise Refused(400, f"body is not a Stripe event: {name} is not a non-empty string")
    created = event.get("created")
    if isinstance(created, bool) or not isinstance(created, int) or not 0 <= created <= MAX_CREATED:
        raise Refused(400, "body is not a Stripe event: created is not a time in seconds")
    obj = (event.get("data") or {}).get("object") if isinstance(event.get("data"), dict) else None
    if not isinstance(obj, dict):
        raise Refused(400, "body is not a Stripe event: data.object is not an object")
    if obj.get("object") in routes and not isinstance(obj.get("id"), str):
        raise Refused(400, "body is not a Stripe event: data.object.id is not a string")
    # The body as Stripe signed it is the payload (JSON already checked): no second serialization per event.
    return to_inbox_event(event, routes, source="webhook", payload=payload)


def build_routes(context: ReceiverContext, secrets: Optional[list[str]] = None) -> Optional[list[Route]]:
    secrets = secrets if secrets is not None else secrets_from_env()
    if not secrets:
        return None
    routes = inbound_routes(context.specs, SYSTEM)

    async def receive(request: Request) -> Response:
        try:
            body = await read_body(request, context.max_body_bytes, "application/json")
            try:
                payload = body.decode("utf-8")
            except UnicodeDecodeError:
                raise Refused(400, "body is not UTF-8") from None
            verify(payload, request.headers.get("stripe-signature"), secrets)
            try:
                event = json.loads(payload)
            except (ValueError, RecursionError):  # also a number too long, or arrays nested too deep
                raise Refused(400, "body is not a Stripe event: not JSON") from None
            row = to_row(event, routes, payload)
            if row is None:
                log.info("stripe: %s (%s) ignored: no spec reads it", event["id"], event["type"])
                return JSONResponse({"stored": 0, "ignored": True})
            return await store(request, context, SYSTEM, [row])
        except Refused as refused:
            refuse(request, refused.reason)
            return JSONResponse({"error": refused.reason}, status_code=refused.status)

    return [Route("/webhooks/stripe", receive, methods=["POST"])]


RECEIVER = Receiver(SYSTEM, build_routes)
