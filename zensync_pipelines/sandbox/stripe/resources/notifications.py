"""/v1/events (read-only, as in Stripe) and /v1/webhook_endpoints (where events are delivered)."""

from __future__ import annotations

import json
import os
import string
from typing import Any

from ...core import Request, Response
from ..api import Call
from ..errors import invalid, validation
from ..events import RETENTION_SECONDS, type_filter
from ..forms import Params, merge_metadata
from ..host import StripeHost
from ..querying import LIST_PARAMS, range_filter


ENDPOINT_FIELDS = ("url", "enabled_events", "description", "metadata", "api_version")
SECRET_ALPHABET = string.ascii_letters + string.digits
MAX_TYPES = 20  # the Events API's limit on `types[]`
# The event types Stripe accepts in `enabled_events` (`*` besides), as the stripe SDK's models list them; a test
# keeps the file equal to the installed SDK's list.
with open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "event_types.json"), encoding="utf-8") as _file:
    EVENT_TYPES = frozenset(json.load(_file)["types"]) | {"*"}


def _check_event_types(events: list[Any]) -> None:
    """Stripe refuses an endpoint subscribed to an event type that does not exist (a typo would never fire)."""
    for index, name in enumerate(events):
        if name not in EVENT_TYPES:
            # As Stripe words an enum mismatch: the message lists the allowed values, and there is no `code`.
            raise invalid(f"Invalid enabled_events[{index}]: must be one of {', '.join(sorted(EVENT_TYPES))}",
                          param=f"enabled_events[{index}]", saved=False)


def _endpoint_changes(p: Params, creating: bool) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    url = p.str("url", required=creating)
    if url is not None:
        if not url.startswith(("http://", "https://")):
            raise validation(f"Invalid URL: {url}. URLs must begin with http:// or https://", "url_invalid", "url")
        changes["url"] = url
    events = p.list("enabled_events")
    if creating and not events:
        raise validation("Missing required param: enabled_events.", "parameter_missing", "enabled_events")
    if events is not None:
        _check_event_types(events)
        changes["enabled_events"] = events
    if "description" in p:
        changes["description"] = p.str("description")
    if "api_version" in p:
        changes["api_version"] = p.str("api_version")
    if "disabled" in p:
        changes["status"] = "disabled" if p.bool("disabled") else "enabled"
    return changes


def register(sb: StripeHost) -> None:
    store = sb.store

    def list_events(call: Call) -> dict[str, Any]:
        p = call.params(LIST_PARAMS + ("type", "types"))
        if "type" in p and "types" in p:
            raise validation("You may only specify one of these parameters: type, types.", "parameter_unknown",
                             "types")
        if len(p.list("types") or []) > MAX_TYPES:
            raise invalid(f"Invalid array: `types` takes at most {MAX_TYPES} event types.", param="types",
                          saved=False)
        matches, in_range = type_filter(p.str("type"), p.list("types")), range_filter(p)
        oldest = store.now() - RETENTION_SECONDS
        with store.lock:
            found = (e for e in store.newest_first("event") if e["created"] >= oldest and matches(e) and in_range(e))
            return sb.list_reply(p, found, "/v1/events")

    def retrieve_event(call: Call) -> dict[str, Any]:
        p = call.params()
        with store.lock:
            return sb.reply(store.get(call.id, "event"), p)

    def create_endpoint(call: Call) -> dict[str, Any]:
        p = call.params(ENDPOINT_FIELDS + ("connect",))
        changes, metadata = _endpoint_changes(p, creating=True), p.metadata()
        # A Connect endpoint is the platform's and receives its connected accounts' events (with `account`).
        connect = bool(p.bool("connect", False))
        if connect and sb.accounts.current_id() is not None:
            raise validation("Only a platform can create a Connect webhook endpoint (connect=true); this request "
                             "carries a Stripe-Account header.", "parameter_invalid_boolean", "connect")
        with store.lock:
            endpoint = {
                "id": store.new_id("we_", 24), "object": "webhook_endpoint", "api_version": None,
                "application": None, "created": store.now(), "description": None, "enabled_events": [],
                "livemode": False, "metadata": {}, "status": "enabled", "url": None,
                "_secret": "whsec_" + store.new_id("", 32, SECRET_ALPHABET),
            }
            if connect:
                endpoint["_connect"] = True
            endpoint.update(changes)
            endpoint["metadata"] = merge_metadata({}, metadata)
            store.insert(endpoint)
            # Like Stripe, the signing secret is shown once, in the reply to the create call.
            return {**sb.reply(endpoint, p), "secret": endpoint["_secret"]}

    def retrieve_endpoint(call: Call) -> dict[str, Any]:
        p = call.params()
        with store.lock:
            return sb.reply(store.get(call.id, "webhook_endpoint"), p)

    def update_endpoint(call: Call) -> dict[str, Any]:
        p = call.params(ENDPOINT_FIELDS[1:] + ("url", "disabled"))
        changes, metadata = _endpoint_changes(p, creating=False), p.metadata()
        with store.lock:
            endpoint = store.get(call.id, "webhook_endpoint")
            endpoint.update(changes)
            endpoint["metadata"] = merge_metadata(endpoint["metadata"], metadata)
            store.touched(endpoint)
            return sb.reply(endpoint, p)

    def delete_endpoint(call: Call) -> dict[str, Any]:
        call.params()
        with store.lock:
            return store.delete(store.get(call.id, "webhook_endpoint"))

    def list_endpoints(call: Call) -> dict[str, Any]:
        p = call.params(("limit", "starting_after", "ending_before"))
        with store.lock:
            return sb.list_reply(p, store.newest_first("webhook_endpoint"), "/v1/webhook_endpoints")

    def roll_secret(request: Request) -> Response:
        """The dashboard's "Roll secret": a new secret now; the old one keeps signing (a second `v1`) until it
        expires, `expires_in` seconds of the sandbox clock later (Stripe allows up to 24 hours)."""
        body = request.json() or {}
        with store.lock:
            endpoint = store.find(str(body.get("endpoint") or ""))
            if endpoint is None or endpoint["object"] != "webhook_endpoint":
                return Response(404, {"error": f"no webhook endpoint {body.get('endpoint')!r}"})
            expires_at = store.clock() + float(body.get("expires_in", 24 * 3600))
            endpoint["_previous_secrets"] = [[endpoint["_secret"], expires_at]] + \
                [pair for pair in endpoint.get("_previous_secrets", []) if pair[1] > store.clock()]
            endpoint["_secret"] = "whsec_" + store.new_id("", 32, SECRET_ALPHABET)
            store.touched(endpoint)
            return Response(200, {"id": endpoint["id"], "secret": endpoint["_secret"]})

    sb.router.add("POST", "/_sandbox/webhook_endpoints/roll_secret", roll_secret)
    sb.api("GET", "/v1/events", list_events)
    sb.api("GET", "/v1/events/{id}", retrieve_event)
    sb.api("POST", "/v1/webhook_endpoints", create_endpoint)
    sb.api("GET", "/v1/webhook_endpoints", list_endpoints)
    sb.api("GET", "/v1/webhook_endpoints/{id}", retrieve_endpoint)
    sb.api("POST", "/v1/webhook_endpoints/{id}", update_endpoint)
    sb.api("DELETE", "/v1/webhook_endpoints/{id}", delete_endpoint)
