"""POST /webhooks/stripe[/<tenant>]: Stripe's signed events into the inbox, each under its tenant.

The signature is checked with the stripe SDK on the raw body, against each secret of STRIPE_WEBHOOK_SECRET (a
comma-separated list, so a rotated secret and its successor both pass while Stripe signs with both), with
Stripe's 300 s tolerance against replays. Only then is the body parsed. Event types no spec reads are answered
200 and dropped. Logs name the event id and type, never the secret, the signature or the payload.

Tenants (docs/tenants.md#inbound-routing): on /webhooks/stripe, an event whose `account` names a registered
active tenant's connected account is that tenant's; the platform's own events (no `account`) are the default
tenant's. /webhooks/stripe/<tenant> is a tenant's own endpoint, verified with its own secret (the registry's
`stripe_webhook_secret`), never with the platform's. An unknown or disabled tenant is refused (4xx), nothing
stored. With no tenant registered, every event is the default tenant's, as before tenants.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import replace
from typing import Any, Mapping, Optional

from stripe import SignatureVerificationError, WebhookSignature
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from ..engine.spec import inbound_routes
from ..systems.stripe.inbound import SYSTEM, to_inbox_event
from ..store import secrets as tenant_secrets
from ..store.inbox import NewInboundEvent
from .logs import refuse
from .receiver import Receiver, ReceiverContext, Refused, Unavailable, read_body, store
from .routing import Snapshot, TenantRoute

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
            WebhookSignature.verify_header(payload, header, secret, tolerance=TOLERANCE_SECONDS)
            return
        except SignatureVerificationError as error:
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


def route_by_account(event: dict[str, Any], snapshot: Snapshot) -> Optional[str]:
    """The tenant of a verified event on the platform's endpoint: None (the default tenant) for the platform's own
    events, or for any event while no tenant is registered (as before tenants); the active tenant whose connected
    account the event's `account` names; Refused otherwise."""
    account = event.get("account")
    if account is None or snapshot.empty:
        return None
    if not isinstance(account, str) or not account:
        raise Refused(400, "body is not a Stripe event: account is not an account id")
    route = snapshot.by_stripe_account.get(account)
    if route is None:
        raise Refused(403, f"account {account[:64]!r} is not a registered tenant's (zensync tenants add)")
    if not route.active:
        raise Refused(403, f"tenant {route.id} (account {account}) is {route.status}")
    return route.id


async def route_by_path(context: ReceiverContext, name: str) -> tuple[TenantRoute, list[str]]:
    """The tenant of `/webhooks/stripe/<name>` and its own signing secrets, before a byte of the body is read."""
    snapshot = await context.tenants.snapshot()
    route = snapshot.by_id.get(name)
    if route is None:
        raise Refused(404, f"no tenant {name[:63]!r} is registered")
    if not route.active:
        raise Refused(403, f"tenant {route.id} is {route.status}")
    if not route.stripe_webhook_secret:
        raise Refused(404, f"tenant {route.id} has no webhook secret of its own (stripe_webhook_secret): its "
                           f"events go to /webhooks/stripe")
    try:
        return route, snapshot.webhook_secrets(route)
    except tenant_secrets.SecretError as error:  # names the tenant, field and reference, never a value
        raise Unavailable(str(error)) from None


def build_routes(context: ReceiverContext, secrets: Optional[list[str]] = None) -> Optional[list[Route]]:
    secrets = secrets if secrets is not None else secrets_from_env()
    if not secrets:
        return None
    routes = inbound_routes(context.specs, SYSTEM)

    async def receive(request: Request) -> Response:
        name = request.path_params.get("tenant")
        try:
            path_route, signing = await route_by_path(context, name) if name is not None else (None, secrets)
            body = await read_body(request, context.max_body_bytes, "application/json")
            try:
                payload = body.decode("utf-8")
            except UnicodeDecodeError:
                raise Refused(400, "body is not UTF-8") from None
            verify(payload, request.headers.get("stripe-signature"), signing)
            try:
                event = json.loads(payload)
            except (ValueError, RecursionError):  # also a number too long, or arrays nested too deep
                raise Refused(400, "body is not a Stripe event: not JSON") from None
            row = to_row(event, routes, payload)
            if path_route is not None:
                tenant: Optional[str] = path_route.id
                if event.get("account") not in (None, path_route.stripe_account):
                    raise Refused(403, f"the event's account is not tenant {tenant}'s")
            else:
                # A lookup only for an event that names a connected account: the platform's own events, and a
                # deployment without tenants, never wait for the registry.
                tenant = route_by_account(event, await context.tenants.snapshot()) \
                    if event.get("account") is not None else None
            if row is None:
                log.info("stripe: %s (%s) ignored: no spec reads it", event["id"], event["type"])
                return JSONResponse({"stored": 0, "ignored": True})
            return await store(request, context, SYSTEM, [replace(row, tenant=tenant) if tenant else row])
        except Refused as refused:
            refuse(request, refused.reason)
            return JSONResponse({"error": refused.reason}, status_code=refused.status)
        except Unavailable as error:  # the registry could not be read, or a tenant's secret resolved: retry later
            refuse(request, f"cannot route the event now ({error})")
            return JSONResponse({"error": "tenant registry unavailable, deliver again"}, status_code=503)

    # /webhooks/stripe: the platform's endpoints, its Connect endpoint included (routed by `account`);
    # /webhooks/stripe/<tenant>: a tenant's own endpoint, signed with its own secret.
    return [Route("/webhooks/stripe", receive, methods=["POST"]),
            Route("/webhooks/stripe/{tenant}", receive, methods=["POST"])]


RECEIVER = Receiver(SYSTEM, build_routes)
