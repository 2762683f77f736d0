"""Sessions: the OAuth 2.0 token endpoint, the SOAP `login` call, and bearer-token checks on every API call.

SOAP login matters because it is the only username + password + security-token flow simple-salesforce can aim at a
host other than *.salesforce.com (`SalesforceLogin(scratch_url=...)`); the OAuth flows always post to
login.salesforce.com, so tests reach the token endpoint with plain requests.
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

ORG_ID = "00D5g000000ZSBXEA4"
USER_ID = "0055g000000ZSBXAA4"  # whoever logs in with credentials: the integration user zensync runs as
SALES_USER_ID = "0055g000000ZSBYAA4"  # a second user, for edits "made in Salesforce" by someone else
USERS = {USER_ID: "integration@zensync.sandbox", SALES_USER_ID: "sam.sales@zensync.sandbox"}
_SESSION_INVALID = [{"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"}]


class Sessions:
    def __init__(self, base_url: Callable[[], str], clock: Callable[[], float]):
        self._base_url = base_url
        self._clock = clock
        self._tokens: dict[str, str] = {}  # access token -> the user it acts as
        self._lock = threading.Lock()
        self._secret = secrets.token_bytes(32)
        self.expected: dict[str, str] = {}  # empty: any credentials are accepted

    def issue(self, user_id: str = USER_ID) -> str:
        if user_id not in USERS:
            raise ValueError(f"unknown sandbox user {user_id!r}; known: {', '.join(USERS)}")
        token = f"{ORG_ID[:15]}!AQ{secrets.token_urlsafe(48)}"
        with self._lock:
            self._tokens[token] = user_id
        return token

    def expire_all(self) -> None:
        with self._lock:
            self._tokens.clear()

    def check(self, request: Request) -> Optional[Response]:
        """None when the bearer token is live (its user goes to `request.context["user_id"]`), else Salesforce's
        401 (simple-salesforce re-logs-in on it)."""
        scheme, _, token = (request.header("authorization") or "").partition(" ")
        with self._lock:
            user_id = self._tokens.get(token.strip()) if scheme.lower() in ("bearer", "oauth") else None
        if user_id is None:
            return Response(401, _SESSION_INVALID)
        request.context["user_id"] = user_id
        return None

    def userinfo(self, request: Request) -> Response:
        """`/services/oauth2/userinfo`: how a client learns its org and user ids (a subset of the real body)."""
        denied = self.check(request)
        if denied:
            return Response(403, "Bad_OAuth_Token", content_type="text/plain")
        user_id = request.context["user_id"]
        return Response(body={"sub": f"{self._base_url()}/id/{ORG_ID}/{user_id}", "user_id": user_id,
                              "organization_id": ORG_ID, "preferred_username": USERS[user_id],
                              "active": True, "user_type": "STANDARD"})
    def _accepts(self, **given: Optional[str]) -> bool:
        return all(given.get(name) == value for name, value in self.expected.items() if name in given)

    # -- OAuth 2.0 ---------------------------------------------------------------------------------------------
    def token(self, request: Request) -> Response:
        form = {k: v[-1] for k, v in parse_qs(request.body.decode(), keep_blank_values=True).items()}
        client_id, client_secret = form.get("client_id"), form.get("client_secret")
        scheme, _, encoded = (request.header("authorization") or "").partition(" ")
        if scheme.lower() == "basic":
            client_id, _, client_secret = base64.b64decode(encoded).decode().partition(":")
        grant = form.get("grant_type")
        if grant not in ("password", "client_credentials"):
            return _oauth_error("unsupported_grant_type", "grant type not supported")
        if not self._accepts(client_id=client_id, client_secret=client_secret):
            return _oauth_error("invalid_client", "invalid client credentials")
        if grant == "password" and not self._accepts(
            username=form.get("username"), password_and_token=form.get("password")
        ):
            return _oauth_error("invalid_grant", "authentication failure")
        token = self.issue()
        issued_at = str(int(self._clock() * 1000))
        identity = f"{self._base_url()}/id/{ORG_ID}/{USER_ID}"
        signature = hmac.new(self._secret, (identity + issued_at).encode(), hashlib.sha256).digest()
        return Response(body={
            "access_token": token,
            "instance_url": self._base_url(),
            "id": identity,
            "token_type": "Bearer",
            "issued_at": issued_at,
            "signature": base64.b64encode(signature).decode(),
        })

    # -- SOAP login --------------------------------------------------------------------------------------------
    def soap_login(self, request: Request) -> Response:
        try:
            # the body is untrusted XML: defusedxml refuses entity expansion and external entities
            root = SafeElementTree.fromstring(request.body)
        except (ElementTree.ParseError, ValueError):
            return _soap_fault("INVALID_LOGIN", "Invalid request body")
        username = _text(root, "username")
        password = _text(root, "password")
        if not username or not password or not self._accepts(username=username, password_and_token=password):
            return _soap_fault("INVALID_LOGIN", "Invalid username, password, security token; or user locked out.")
        version = request.params["version"]
        base = self._base_url()
        body = (
            '<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns="urn:partner.soap.sforce.com">'
            "<soapenv:Body><loginResponse><result>"
            f"<metadataServerUrl>{base}/services/Soap/m/{version}/{ORG_ID}</metadataServerUrl>"
            "<passwordExpired>false</passwordExpired><sandbox>true</sandbox>"
            f"<serverUrl>{base}/services/Soap/u/{version}/{ORG_ID}</serverUrl>"
            f"<sessionId>{escape(self.issue())}</sessionId><userId>{USER_ID}</userId>"
            f"<userInfo><organizationId>{ORG_ID}</organizationId><userName>{escape(username)}</userName></userInfo>"
            "</result></loginResponse></soapenv:Body></soapenv:Envelope>"
        )
        return Response(body=body, content_type="text/xml; charset=utf-8")


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
