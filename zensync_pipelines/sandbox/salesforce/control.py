"""The `/_sandbox/` endpoints that act on orgs, sessions and outbound messages (no auth, not counted), for tests
and for `zensync dev` in another process. An `org` (in the JSON body, or the query for GET) picks the org; without
one they act on the first org, as they did before orgs."""

from __future__ import annotations

import json
from typing import Any, Callable, Optional

from zensync_pipelines.sandbox.core import Request, Response

from .host import SalesforceHost
from .orgs import USER_ID, Org

ORG_SETTINGS = ("daily_api_limit", "down")


class ControlRoutes:
    def __init__(self, sb: SalesforceHost, add_org: Callable[..., Org], new_session: Callable[[str], str],
                 refresh_token: Callable[[str], str], expire: Callable[[Optional[str]], bool]):
        self.sb, self._add_org, self._new_session, self._refresh_token, self._expire = (
            sb, add_org, new_session, refresh_token, expire)
        def add(method: str, path: str, handler: Callable[[Request], Response]) -> None:
            sb.router.add(method, path, lambda request: _guarded(handler, request))

        add("GET", "/_sandbox/orgs", lambda r: Response(body={"orgs": [o.describe() for o in sb.orgs.all()]}))
        add("POST", "/_sandbox/orgs", self.create_org)
        add("POST", "/_sandbox/orgs/{org_id}", self.change_org)
        add("POST", "/_sandbox/session", self.session)
        add("POST", "/_sandbox/refresh_token", self.refresh_token)
        add("POST", "/_sandbox/expire_sessions", self.expire_sessions)
        add("GET", "/_sandbox/outbound", self.outbound_status)
        add("POST", "/_sandbox/outbound", self.configure_outbound)

    def _org(self, org_id: Any) -> Org:
        found = self.sb.orgs.get(str(org_id)) if org_id else self.sb.orgs.default
        if found is None:
            raise LookupError(f"no org {org_id!r} in the sandbox")
        return found

    def create_org(self, request: Request) -> Response:
        """`{"name", "daily_api_limit", "outbound_urls", "client_id", "client_secret", "currencies"}`, all
        optional (`currencies`: the org's active ISO codes, corporate first; one means a single-currency org);
        answers the org with a refresh token of its integration user (the connected app's one-time
        authorisation)."""
        body = _body(request)
        unknown = set(body) - {"name", "daily_api_limit", "outbound_urls", "client_id", "client_secret",
                               "currencies"}
        if unknown:
            return Response(400, {"error": f"unknown field(s) {sorted(unknown)}"})
        try:
            org = self._add_org(**body)
        except (TypeError, ValueError) as error:
            return Response(400, {"error": str(error)})
        return Response(200, {**org.describe(), "refresh_token": self._refresh_token(org.integration_user)})

    def change_org(self, request: Request) -> Response:
        """`{"daily_api_limit": N or null, "down": true}`: the org's own allocation, or its instance unavailable."""
        body = _body(request)
        try:
            org = self._org(request.path.rstrip("/").rsplit("/", 1)[-1])  # control routes get no path params
        except LookupError as error:
            return Response(404, {"error": str(error)})
        if set(body) - set(ORG_SETTINGS):
            return Response(400, {"error": f"settings are {', '.join(ORG_SETTINGS)}"})
        if "daily_api_limit" in body:
            org.daily_api_limit = None if body["daily_api_limit"] is None else int(body["daily_api_limit"])
        if "down" in body:
            org.down = bool(body["down"])
        return Response(200, org.describe())

    def session(self, request: Request) -> Response:
        """`{"user_id": ...}` picks the user, and so the org (default: the first org's integration user)."""
        try:
            return Response(body={"access_token": self._new_session(_body(request).get("user_id", USER_ID))})
        except ValueError as error:
            return Response(400, {"error": str(error)})

    def refresh_token(self, request: Request) -> Response:
        try:
            return Response(body={"refresh_token": self._refresh_token(_body(request).get("user_id", USER_ID))})
        except ValueError as error:
            return Response(400, {"error": str(error)})

    def expire_sessions(self, request: Request) -> Response:
        org_id = _body(request).get("org")
        if org_id and self.sb.orgs.get(org_id) is None:
            return Response(404, {"error": f"no org {org_id!r} in the sandbox"})
        return Response(body={"expired": self._expire(org_id)})

    def outbound_status(self, request: Request) -> Response:
        try:
            return Response(body=self._org((request.query.get("org") or [None])[-1]).outbound.status())
        except LookupError as error:
            return Response(404, {"error": str(error)})

    def configure_outbound(self, request: Request) -> Response:
        """`{"urls": {"Account": url, "*": url}, "org": ...}` sets endpoints (an empty url removes one); knobs go
        through `/_sandbox/knobs` like every other knob."""
        body = _body(request)
        try:
            outbound = self._org(body.get("org")).outbound
            outbound.configure(dict(body.get("urls") or {}))
        except LookupError as error:
            return Response(404, {"error": str(error)})
        except ValueError as error:
            return Response(400, {"error": str(error)})
        return Response(body=outbound.status())


def _guarded(handler: Callable[[Request], Response], request: Request) -> Response:
    try:
        return handler(request)
    except json.JSONDecodeError as error:
        return Response(400, {"error": f"the body must be JSON: {error}"})


def _body(request: Request) -> dict[str, Any]:
    body = request.json() or {}
    return body if isinstance(body, dict) else {}
