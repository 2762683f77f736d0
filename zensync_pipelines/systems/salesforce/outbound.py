"""Salesforce outbound messages: parse the SOAP 1.1 `notifications` body, answer with an Ack or a SOAP fault,
and turn notifications into inbox events.

The body is untrusted XML from the network: lxml (libxml2) parses it with entity substitution, DTD loading and
network access off, and a message that has a DTD at all is refused, which refuses XXE, external references and
entity expansion ("billion laughs") alike, since each needs a DTD and Salesforce never sends one. (defusedxml
did the same through the pure-Python ElementTree parser: 3.5 ms for a message of 100 notifications, against
0.5 ms here, the largest part of the receiver's CPU per message.) Everything a message claims (field values,
SessionId) is a hint; authentication lives in `outbound_auth`, and the inbound policy fetches the record's
current state with zensync's own credentials.
"""

from __future__ import annotations

import datetime as dt
import json
import re
import threading
from dataclasses import dataclass, field
from typing import Mapping, Optional
from xml.sax.saxutils import escape

from lxml import etree

from ...store.inbox import NewInboundEvent
from .ids import canonical

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND = "http://soap.sforce.com/2005/09/outbound"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
MAX_NOTIFICATIONS = 100  # Salesforce's documented limit per message
MAX_BODY_BYTES = 4 * 1024 * 1024  # 100 notifications of wide records stay far below this
SYSTEM = "salesforce"
EVENT_TYPE = "changed"  # a record's state at its SystemModstamp; outbound messages do not tell create from update
CONTENT_TYPE = "text/xml; charset=utf-8"
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")  # an sObject API name (80 characters at most)


class OutboundRefused(Exception):
    """A message zensync will not store: `code` names the reason, `status` the HTTP answer the receiver gives.

    The text is safe to log: it never quotes the body, only what was wrong with it.
    """

    def __init__(self, code: str, reason: str, status: int = 400):
        super().__init__(f"{code}: {reason}")
        self.code, self.reason, self.status = code, reason, status


@dataclass(frozen=True)
class Notification:
    id: str  # the notification's own id: the same on every redelivery, so it is the inbox's dedupe key
    sobject_type: str
    record_id: str
    fields: dict[str, Optional[str]] = field(default_factory=dict)  # as sent: text, None for xsi:nil

    @property
    def modstamp(self) -> Optional[dt.datetime]:
        return parse_datetime(self.fields.get("SystemModstamp"))


@dataclass(frozen=True)
class OutboundMessage:
    organization_id: str
    action_id: str
    session_id: Optional[str]
    enterprise_url: Optional[str]
    partner_url: Optional[str]
    notifications: list[Notification]


def check_content_type(header: Optional[str]) -> None:
    """SOAP 1.1 travels as `text/xml` (Salesforce sends `text/xml; charset=utf-8`); anything else is a 415."""
    if (header or "").split(";")[0].strip().lower() != "text/xml":
        raise OutboundRefused("unsupported_media_type", "a SOAP 1.1 message is text/xml", 415)


def parse(body: bytes, max_bytes: int = MAX_BODY_BYTES) -> OutboundMessage:
    """The message in `body`, or OutboundRefused (malformed, forbidden XML construct, too large)."""
    if len(body) > max_bytes:
        raise OutboundRefused("too_large", f"body of {len(body)} bytes exceeds {max_bytes}", 413)
    try:
        root = etree.fromstring(body, _parser())
    except etree.XMLSyntaxError as error:
        # The position only: libxml2's text can quote the body.
        raise OutboundRefused("malformed", f"not well-formed XML (line {error.lineno}, column {error.offset})") \
            from None
    info = root.getroottree().docinfo
    if info.doctype or info.internalDTD is not None or info.externalDTD is not None:
        raise OutboundRefused("forbidden_xml", "DTDForbidden: DTDs and entities are refused")
    if root.tag != f"{{{SOAP_ENV}}}Envelope":
        raise OutboundRefused("malformed", "the root element is not a SOAP 1.1 Envelope")
    notifications = root.find(f"{{{SOAP_ENV}}}Body/{{{OUTBOUND}}}notifications")
    if notifications is None:
        raise OutboundRefused("malformed", "no notifications element in the outbound namespace in the Body")
    organization = _text(notifications, "OrganizationId")
    if not organization or canonical(organization) is None:
        raise OutboundRefused("malformed", "OrganizationId is missing or not a Salesforce id")
    items = notifications.findall(f"{{{OUTBOUND}}}Notification")
    if not 1 <= len(items) <= MAX_NOTIFICATIONS:
        raise OutboundRefused("malformed", f"{len(items)} notifications; a message carries 1 to {MAX_NOTIFICATIONS}")
    return OutboundMessage(organization, _text(notifications, "ActionId") or "",
                           _text(notifications, "SessionId"), _text(notifications, "EnterpriseUrl"),
                           _text(notifications, "PartnerUrl"), [_notification(i, n) for i, n in enumerate(items)])


_local = threading.local()


def _parser() -> etree.XMLParser:
    """A parser per thread (lxml's are not to be shared between threads), safe for untrusted input."""
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = etree.XMLParser(resolve_entities=False, load_dtd=False, no_network=True,
                                                 huge_tree=False, remove_comments=True, remove_pis=True)
    return parser


_ID, _SOBJECT = f"{{{OUTBOUND}}}Id", f"{{{OUTBOUND}}}sObject"
_NIL, _TYPE = f"{{{XSI}}}nil", f"{{{XSI}}}type"


def _notification(index: int, element: etree._Element) -> Notification:
    # One pass over the children, tags compared with prebuilt names: find() per name parsed its path every time
    # (the walk over 100 notifications was most of the receiver's CPU per message).
    id_element = sobject = None
    for child in element:
        if child.tag == _ID:
            id_element = child if id_element is None else id_element
        elif child.tag == _SOBJECT:
            sobject = child if sobject is None else sobject
    where = f"notification {index + 1}"
    notification_id = _value(id_element)
    if not notification_id or sobject is None:
        raise OutboundRefused("malformed", f"{where} lacks its Id or its sObject")
    if canonical(notification_id) is None:
        raise OutboundRefused("malformed", f"{where}: its Id is not a Salesforce id")
    declared = sobject.get(_TYPE) or ""
    sobject_type = declared.rpartition(":")[2]  # a QName such as sf:Account
    if not _NAME.match(sobject_type):
        raise OutboundRefused("malformed", f"{where}: the sObject has no xsi:type naming an object")
    fields: dict[str, Optional[str]] = {}
    for child in sobject:
        nil = child.get(_NIL)
        fields[child.tag.rpartition("}")[2]] = None if nil is not None and nil.lower() == "true" else \
            (child.text or "")
    record_id = fields.get("Id")
    if not record_id or canonical(record_id) is None:
        raise OutboundRefused("malformed", f"{where}: the sObject's Id is missing or not a Salesforce id")
    return Notification(notification_id, sobject_type, record_id, fields)


def _value(child: Optional[etree._Element]) -> Optional[str]:
    """An element's text, stripped; None when absent or xsi:nil."""
    if child is None or (child.get(_NIL) or "").lower() == "true":
        return None
    return (child.text or "").strip()


def _text(parent: etree._Element, name: str) -> Optional[str]:
    return _value(parent.find(f"{{{OUTBOUND}}}{name}"))


def parse_datetime(text: Optional[str]) -> Optional[dt.datetime]:
    """Salesforce's dateTime (`2026-11-27T10:15:00.000Z` or `+0000`) as an aware datetime; None if absent/bad."""
    if not text:
        return None
    cleaned = text.strip().replace("Z", "+00:00")
    if len(cleaned) > 5 and cleaned[-5] in "+-" and cleaned[-3] != ":":
        cleaned = cleaned[:-2] + ":" + cleaned[-2:]
    try:
        moment = dt.datetime.fromisoformat(cleaned)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def to_events(message: OutboundMessage, routes: Mapping[str, str], received_at: Optional[dt.datetime] = None,
              tenant: Optional[str] = None) -> list[NewInboundEvent]:
    """Inbox events for the notifications whose sObject type a catalog takes in (`routes`: type -> catalog), of
    `tenant` (None: the inbox store's own, the default tenant for the receiver).

    The payload is the record in the REST shape (`attributes` + fields) so polled and pushed changes read alike.
    Without a SystemModstamp in the message, the time it arrived stands in for when the change happened.
    """
    fallback = received_at or dt.datetime.now(dt.timezone.utc)
    # A notification of an object no spec takes in is acknowledged, not stored.
    return [notification_event(n.id, n.sobject_type, catalog, n.fields, fallback, tenant)
            for n in message.notifications if (catalog := routes.get(n.sobject_type)) is not None]


def notification_event(notification_id: str, sobject_type: str, catalog: str, fields: Mapping[str, Optional[str]],
                       received_at: dt.datetime, tenant: Optional[str] = None,
                       source: str = "webhook") -> NewInboundEvent:
    """The inbox event of one notification, whether stored at receipt or split from its message's envelope by the
    inbox job (outbound_envelope.py): both give the same row."""
    record = {"attributes": {"type": sobject_type}, **fields}
    return NewInboundEvent(
        system=SYSTEM, event_id=notification_id, event_type=EVENT_TYPE, catalog=catalog, object_type=sobject_type,
        external_id=canonical(fields.get("Id")) or "",
        occurred_at=parse_datetime(fields.get("SystemModstamp")) or received_at,
        payload=json.dumps(record, sort_keys=True), tenant=tenant, source=source, received_at=received_at)


def ack() -> bytes:
    """The answer that tells Salesforce every notification of the message is delivered."""
    return (b'<?xml version="1.0" encoding="UTF-8"?>\n'
            b'<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/">\n'
            b'  <soapenv:Body>\n'
            b'    <notificationsResponse xmlns="http://soap.sforce.com/2005/09/outbound">\n'
            b'      <Ack>true</Ack>\n'
            b'    </notificationsResponse>\n'
            b'  </soapenv:Body>\n'
            b'</soapenv:Envelope>\n')


def fault(reason: str, code: str = "soapenv:Server") -> bytes:
    """A SOAP 1.1 Fault. With HTTP 500 and `soapenv:Server` Salesforce keeps the message and retries it;
    `soapenv:Client` tells a reader the message itself was refused. `reason` must not quote secrets."""
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}"><soapenv:Body><soapenv:Fault>'
            f"<faultcode>{escape(code)}</faultcode><faultstring>{escape(reason)}</faultstring>"
            "</soapenv:Fault></soapenv:Body></soapenv:Envelope>\n").encode()

