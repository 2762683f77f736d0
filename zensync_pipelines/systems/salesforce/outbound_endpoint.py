"""What `POST /webhooks/salesforce[/<token>]` does with one request, independent of the web framework: check,
store, answer. The receiver app reads the body (capped), calls `receive`, and sends the Answer as it is.

Order matters: the checks that need no body run first, then parsing, then the org check; only a message that
passed all of them touches the database. The Ack is sent only after the inbox commit, so an acknowledged
notification is never lost; a database failure answers a SOAP fault with HTTP 500, which Salesforce retries.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Mapping, Optional

from sqlalchemy.exc import SQLAlchemyError

from ...store.inbox import InboxStore
from .outbound import (CONTENT_TYPE, MAX_BODY_BYTES, OutboundMessage, OutboundRefused, ack, check_content_type,
                       fault, parse, to_events)
from .outbound_auth import OutboundSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str = CONTENT_TYPE
    notifications: int = 0  # in the message
    stored: int = 0  # new in the inbox (a redelivery stores 0)
    refused: Optional[str] = None  # the OutboundRefused code


def accept(body: bytes, content_type: Optional[str], settings: OutboundSettings,
           max_bytes: int = MAX_BODY_BYTES) -> OutboundMessage:
    """The message, once its type, its XML and its org passed (the checks that need no body ran before); raises
    OutboundRefused. Logs nothing: the caller logs the refusal once, where it knows the route."""
    check_content_type(content_type)
    message = parse(body, max_bytes)
    settings.check_message(message)
    return message


def receive(body: bytes, content_type: Optional[str], remote_address: Optional[str], token: Optional[str],
            settings: OutboundSettings, routes: Mapping[str, str], inbox: InboxStore,
            max_bytes: int = MAX_BODY_BYTES) -> Answer:
    """Answer one delivery. Logs carry the refusal code or the counts and notification ids, never the body,
    the token or field values."""
    try:
        settings.check_request(remote_address, token)
        message = accept(body, content_type, settings, max_bytes)
    except OutboundRefused as refused:
        log.warning("salesforce outbound message refused: %s (HTTP %s)", refused.code, refused.status)
        # soapenv:Client: the message itself is wrong. Salesforce still retries it (anything but an Ack is a
        # failure to it) and shows the fault in its outbound-message queue, where the admin looks.
        return Answer(refused.status, fault(refused.reason, "soapenv:Client"), refused=refused.code)
    events = to_events(message, routes, received_at=dt.datetime.now(dt.timezone.utc))
    try:
        stored = inbox.add(events)
    except (SQLAlchemyError, OSError) as error:
        # The error text may quote SQL parameters (the payload) or a URL: log only its type.
        log.error("salesforce outbound message not stored (%s); answering a fault so Salesforce retries",
                  type(error).__name__)
        return Answer(500, fault("temporarily unable to store the notifications; retry later"),
                      notifications=len(message.notifications))
    log.info("salesforce outbound message %s: %d notifications, %d new, ids %s", message.action_id,
             len(message.notifications), stored, ",".join(n.id for n in message.notifications[:5]))
    return Answer(200, ack(), notifications=len(message.notifications), stored=stored)
