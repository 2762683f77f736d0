"""The wire format of outbound messages as an org sends them, and how it reads the endpoint's answer."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from typing import Any, Sequence
from xml.sax.saxutils import escape, quoteattr

import defusedxml.ElementTree as SafeElementTree
from defusedxml import DefusedXmlException

from .schema import SObject

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
OUTBOUND = "http://soap.sforce.com/2005/09/outbound"


def render(organization_id: str, action_id: str, base_url: str, api_version: str,
           items: Sequence[tuple[str, SObject, dict[str, Any]]]) -> bytes:
    """A `notifications` message for (notification id, sObject, record) items, all of one outbound message.

    Like a real org, a field whose value is null is left out of the sObject, and SessionId is nil (the org's
    "Send Session ID" box is unchecked: an endpoint must use its own credentials).
    """
    notifications = "".join(
        f"<Notification><Id>{notification_id}</Id>"
        f'<sObject xsi:type={quoteattr("sf:" + sobject.name)} xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        + "".join(f"<sf:{name}>{escape(_text(sobject, name, value))}</sf:{name}>"
                  for name, value in _fields(sobject, record))
        + "</sObject></Notification>"
        for notification_id, sobject, record in items)
    org15 = organization_id[:15]
    return ('<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV}" xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
            f'<notifications xmlns="{OUTBOUND}"><OrganizationId>{organization_id}</OrganizationId>'
            f'<ActionId>{action_id}</ActionId><SessionId xsi:nil="true"/>'
            f"<EnterpriseUrl>{escape(base_url)}/services/Soap/c/{api_version}/{org15}</EnterpriseUrl>"
            f"<PartnerUrl>{escape(base_url)}/services/Soap/u/{api_version}/{org15}</PartnerUrl>"
            f"{notifications}</notifications></soapenv:Body></soapenv:Envelope>").encode()


def _fields(sobject: SObject, record: dict[str, Any]) -> list[tuple[str, Any]]:
    # Id first, as in the sample; IsDeleted is not a field a workflow's outbound message can select.
    names = ["Id"] + [n for n in sobject.fields if n not in ("Id", "IsDeleted")]
    return [(n, record.get(n)) for n in names if record.get(n) is not None]


def _text(sobject: SObject, name: str, value: Any) -> str:
    f = sobject.fields[name]
    if isinstance(value, bool):
        return "true" if value else "false"
    if f.type == "datetime" and isinstance(value, str) and value.endswith("+0000"):
        return value[:-5] + "Z"  # xsd:dateTime as the SOAP API writes it
    return str(value)


def is_ack(status: int, body: bytes) -> bool:
    """Salesforce dequeues only on HTTP 200 with a notificationsResponse whose Ack is true."""
    if status != 200:
        return False
    try:
        root = SafeElementTree.fromstring(body, forbid_dtd=True)
    except (DefusedXmlException, ElementTree.ParseError):
        return False
    found = root.find(f"{{{SOAP_ENV}}}Body/{{{OUTBOUND}}}notificationsResponse/{{{OUTBOUND}}}Ack")
    return found is not None and (found.text or "").strip().lower() == "true"
