"""Sessions: the OAuth 2.0 token endpoint (password, client credentials and refresh-token grants), token
revocation, the SOAP `login` call, and bearer-token checks on every API call.

Each token belongs to one org and user (orgs.py): a login finds its org by the username, a client-credentials
login by the connected app's client id, a refresh token by the org and user that authorised the app; anything the
sandbox does not know logs into the first org, as every login did before orgs. SOAP login matters because it is
the only username + password + security-token flow simple-salesforce can aim at a host other than
*.salesforce.com (`SalesforceLogin(scratch_url=...)`); the OAuth flows always post to login.salesforce.com, so
tests reach the token endpoint with plain requests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import xml.etree.ElementTree as ElementTree
from typing import Callable, Optional
from urllib.parse import parse_qs
from xml.sax.saxutils import escape

import defusedxml.ElementTree as SafeElementTree

from zensync_pipelines.sandbox.core import Request, Response

from .orgs import ORG_ID, SALES_USER_ID, USER_ID, Org, Orgs

__all__ = ["ORG_ID", "SALES_USER_ID", "USER_ID", "Sessions"]
_SESSION_INVALID = [{"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"}]


class Sessions:
    def __init__(self, base_url: Callable[[], str], clock: Callable[[], float], orgs: Orgs):
        self._base_url = base_url
        self._clock = clock
        self._orgs = orgs
        self._tokens: dict[str, tuple[str, str, Optional[str]]] = {}  # access token -> org, user, refresh token
        self._refresh: dict[str, tuple[str, str]] = {}  # refresh token -> org, user (kept with --data)
        self._lock = threading.Lock()
        self._secret = secrets.token_bytes(32)

    def issue(self, user_id: str = USER_ID, refresh: Optional[str] = None) -> str:
        org = self._orgs.of_user(user_id)
        if org is None:
            raise ValueError(f"unknown sandbox user {user_id!r}; known: "
                             f"{', '.join(u for o in self._orgs.all() for u in o.users)}")
        token = f"{org.id[:15]}!AQ{secrets.token_urlsafe(48)}"  # Salesforce's session ids start with the org id
        with self._lock:
            self._tokens[token] = (org.id, user_id, refresh)
        return token

    def refresh_token(self, user_id: str = USER_ID) -> str:
        """The refresh token a connected app keeps once `user_id` authorised it (the web-server flow's one-time
        consent, which needs a browser, stands behind this call)."""
        org = self._orgs.of_user(user_id)
        if org is None:
            raise ValueError(f"unknown sandbox user {user_id!r}")
        token = f"5Aep861{secrets.token_urlsafe(60)}"
        with self._lock:
            self._refresh[token] = (org.id, user_id)
        return token

    def expire_all(self, org_id: Optional[str] = None) -> None:
        """Revoke every access token (of one org, when named); refresh tokens stay, as after a session timeout."""
        with self._lock:
            for token, (owner, _, _) in list(self._tokens.items()):
                if org_id is None or owner[:15] == org_id[:15]:
                    del self._tokens[token]

    def org_of(self, request: Request) -> Optional[str]:
        scheme, _, token = (request.header("authorization") or "").partition(" ")
        with self._lock:
            found = self._tokens.get(token.strip()) if scheme.lower() in ("bearer", "oauth") else None
        return found[0] if found else None

    def check(self, request: Request) -> Optional[Response]:
        """None when the bearer token is live (its user goes to `request.context["user_id"]`), else Salesforce's
        401 (simple-salesforce re-logs-in on it)."""
        scheme, _, token = (request.header("authorization") or "").partition(" ")
        with self._lock:
            found = self._tokens.get(token.strip()) if scheme.lower() in ("bearer", "oauth") else None
        if found is None:
            return Response(401, _SESSION_INVALID)
        request.context["org_id"], request.context["user_id"] = found[0], found[1]
        return None

    def userinfo(self, request: Request) -> Response:
        """`/services/oauth2/userinfo`: how a client learns its org and user ids (a subset of the real body)."""
        denied = self.check(request)
        if denied:
            return Response(403, "Bad_OAuth_Token", content_type="text/plain")
        org_id, user_id = request.context["org_id"], request.context["user_id"]
        org = self._orgs.get(org_id) or self._orgs.default
        return Response(body={"sub": f"{self._base_url()}/id/{org_id}/{user_id}", "user_id": user_id,
                              "organization_id": org_id, "preferred_username": org.users[user_id],
                              "active": True, "user_type": "STANDARD"})

    def dump(self) -> dict[str, list[str]]:
        with self._lock:
            return {token: list(owner) for token, owner in self._refresh.items()}

    def load(self, refresh: dict[str, list[str]]) -> None:
        with self._lock:
            self._refresh.update({token: (owner[0], owner[1]) for token, owner in refresh.items()})

    # -- OAuth 2.0 ---------------------------------------------------------------------------------------------
    def token(self, request: Request) -> Response:
        form = {k: v[-1] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()}
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        scheme, _, encoded = (request.header("authorization") or "").partition(" ")
        if scheme.lower() == "basic":
            client_id, _, client_secret = base64.b64decode(encoded).decode().partition(":")
        grant = form.get("grant_type")
        refresh = form.get("refresh_token") if grant == "refresh_token" else None
        if grant == "refresh_token":
            with self._lock:
                owner = self._refresh.get(refresh or "")
            if owner is None:
                return _oauth_error("invalid_grant", "expired access/refresh token")
            org, user_id = self._orgs.get(owner[0]) or self._orgs.default, owner[1]
            app = {"client_id": org.client_id, "client_secret": org.client_secret}
            if not _accepts({k: v for k, v in app.items() if v}, client_id=client_id, client_secret=client_secret):
                return _oauth_error("invalid_client", "invalid client credentials")
        elif grant in ("password", "client_credentials"):
            org, user_id = self._login_target(form.get("username") if grant == "password" else None, client_id)
            if not _accepts(org.expected, client_id=client_id, client_secret=client_secret):
                return _oauth_error("invalid_client", "invalid client credentials")
            if grant == "password" and not _accepts(
                org.expected, username=form.get("username"), password_and_token=form.get("password")
            ):
                return _oauth_error("invalid_grant", "authentication failure")
        else:
            return _oauth_error("unsupported_grant_type", "grant type not supported")
        if org.down:
            return Response(503, {"error": "server_unavailable", "error_description": "the org is unavailable"})
        token = self.issue(user_id, refresh)
        issued_at = str(int(self._clock() * 1000))
        identity = f"{self._base_url()}/id/{org.id}/{user_id}"
        signature = hmac.new(self._secret, (identity + issued_at).encode(), hashlib.sha256).digest()
        body = {"access_token": token, "instance_url": self._base_url(), "id": identity, "token_type": "Bearer",
                "issued_at": issued_at, "signature": base64.b64encode(signature).decode()}
        if grant == "refresh_token":
            body["scope"] = "api refresh_token"
        return Response(body=body)

    def revoke(self, request: Request) -> Response:
        """`POST /services/oauth2/revoke token=...`: a refresh token takes the access tokens it issued with it."""
        form = {k: v[-1] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()}
        token = form.get("token") or (request.query.get("token") or [""])[-1]
        with self._lock:
            known = token in self._refresh or token in self._tokens
            self._refresh.pop(token, None)
            self._tokens.pop(token, None)
            for access, (_, _, issued_by) in list(self._tokens.items()):
                if issued_by == token:
                    del self._tokens[access]
        return Response(200) if known else _oauth_error("invalid_token", "invalid token")

    def _login_target(self, username: Optional[str], client_id: Optional[str]) -> tuple[Org, str]:
        by_name = self._orgs.of_username(username)
        if by_name is not None:
            return by_name
        org = self._orgs.of_client(client_id) or self._orgs.default
        return org, org.integration_user

    # -- SOAP login --------------------------------------------------------------------------------------------
    def soap_login(self, request: Request) -> Response:
        try:
            # the body is untrusted XML: defusedxml refuses entity expansion and external entities
            root = SafeElementTree.fromstring(request.body)
        except (ElementTree.ParseError, ValueError):
            return _soap_fault("INVALID_LOGIN", "Invalid request body")
        username = _text(root, "username")
        password = _text(root, "password")
        org, user_id = self._login_target(username, None)
        if not username or not password or not _accepts(org.expected, username=username, password_and_token=password):
            return _soap_fault("INVALID_LOGIN", "Invalid username, password, security token; or user locked out.")
        if org.down:
            return _soap_fault("SERVER_UNAVAILABLE", "The org is unavailable.")
        version = request.params["version"]
        base = self._base_url()
        body = (
            '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com">'
            "<soapenv:Body><loginResponse><result>"
            f"<metadataServerUrl>{base}/services/Soap/m/{version}/{org.id}</metadataServerUrl>"
            "<passwordExpired>false</passwordExpired><sandbox>true</sandbox>"
            f"<serverUrl>{base}/services/Soap/u/{version}/{org.id}</serverUrl>"
            f"<sessionId>{escape(self.issue(user_id))}</sessionId><userId>{user_id}</userId>"
            f"<userInfo><organizationId>{org.id}</organizationId><userName>{escape(username)}</userName></userInfo>"
            "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
        )
        return Response(body=body, content_type="text/xml; charset=utf-8")


def _accepts(expected: dict[str, str], **given: Optional[str]) -> bool:
    return all(given.get(name) == value for name, value in expected.items() if name in given)


def _text(root: ElementTree.Element, local_name: str) -> Optional[str]:
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == local_name:
            return element.text
    return None


def _oauth_error(code: str, description: str) -> Response:
    return Response(400, {"error": code, "error_description": description})


def _soap_fault(code: str, message: str) -> Response:
    # simple-salesforce looks the code up by the literal tag name `sf:exceptionCode`, so the prefix matters.
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
        'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:sf="urn:fault.partner.soap.sforce.com" '
        'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body><soapenv:Fault>'
        f"<faultcode>sf:{code}</faultcode><faultstring>{code}: {escape(message)}</faultstring>"
        f'<detail><sf:LoginFault xsi:type="sf:LoginFault"><sf:exceptionCode>{code}</sf:exceptionCode>'
        f"<sf:exceptionMessage>{escape(message)}</sf:exceptionMessage></sf:LoginFault></detail>"
        "</soapenv:Fault></soapenv:Body></soapenv:Envelope>"
    )
    return Response(500, body, content_type="text/xml; charset=utf-8")
