"""An outbound message stored as one envelope row and split by the inbox job, on both databases: the split gives
exactly the rows the receiver used to store one by one (tenant, catalog, order), a notification delivered twice is
stored once, an envelope is never handed to the decoder, and one that cannot be split is kept with its reason."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

from zensync_pipelines.store.inbox import ENVELOPE, InboxStore
from zensync_pipelines.store.inbox_envelopes import split_envelopes
from zensync_pipelines.systems.salesforce.outbound import parse, to_events
from zensync_pipelines.systems.salesforce.outbound_envelope import envelope_event, split
from zensync_pipelines.sandbox.salesforce.auth import ORG_ID

ROUTES = {"Account": "customers", "Contact": "contacts"}
AT = dt.datetime(2026, 12, 7, 9, 0, tzinfo=dt.timezone.utc)


def message(*notifications: tuple[str, str, str], modstamp: bool = True) -> bytes:
    """A SOAP outbound message of (notification id, sObject type, record id) notifications."""
    items = "".join(
        f'<Notification><Id>{nid}</Id><sObject xsi:type="sf:{kind}" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
        f"<sf:Id>{rid}</sf:Id><sf:Phone>+1 555 {n:04d}</sf:Phone><sf:Fax xsi:nil=\"true\"/>"
        + ("<sf:SystemModstamp>2026-12-01T10:00:00.000Z</sf:SystemModstamp>" if modstamp else "")
        + "</sObject></Notification>" for n, (nid, kind, rid) in enumerate(notifications))
    return ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
            '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
            f"<OrganizationId>{ORG_ID}</OrganizationId><ActionId>04k000000000001AAA</ActionId>"
            f"{items}</notifications></soapenv:Body></soapenv:Envelope>").encode()


def notification(n: int, kind: str = "Account") -> tuple[str, str, str]:
    return (f"04l00000000{n:04d}", kind, f"{'001' if kind == 'Account' else '003'}00000000{n:04d}")


def test_an_envelope_splits_into_exactly_the_rows_stored_one_by_one():
    parsed = parse(message(notification(1), notification(2, "Contact"), notification(3, "Opportunity"),
                           notification(4), modstamp=False))
    envelope = envelope_event(parsed, ROUTES, AT, tenant="t1")
    assert (envelope.event_type, envelope.catalog, envelope.tenant) == (ENVELOPE, "customers", "t1")
    row = {"payload": envelope.payload, "tenant": "t1", "source": envelope.source}
    assert split(row) == to_events(parsed, ROUTES, received_at=AT, tenant="t1")  # the Opportunity: no catalog
    assert [e.catalog for e in split(row)] == ["customers", "contacts", "customers"]
    assert envelope_event(parse(message(notification(5, "Opportunity"))), ROUTES, AT) is None  # nothing to store
    again = envelope_event(parse(message(notification(1), notification(2, "Contact"), notification(4))), ROUTES, AT)
    assert again.event_id == envelope_event(parsed, ROUTES, AT).event_id  # the same message: the same envelope


def test_the_inbox_job_splits_envelopes_in_order_once_each_before_reading_due_events(engine):
    inbox = InboxStore(engine)
    first = envelope_event(parse(message(*(notification(n) for n in (3, 1, 2)))), ROUTES, AT)
    redelivered = envelope_event(parse(message(notification(2), notification(4, "Contact"))), ROUTES, AT)
    broken = replace(envelope_event(parse(message(notification(9))), ROUTES, AT), payload='{"notifications": 1}')
    assert inbox.add([first, broken]) == 2
    assert inbox.due("customers", "salesforce") == []  # an envelope is split, never applied
    assert inbox.newest_due_id("customers", "salesforce") is not None  # but it wakes its catalog's sensor
    assert split_envelopes(inbox, "customers", "salesforce", split) == 3
    assert inbox.add([redelivered]) == 1  # another message carrying notification 2 again
    assert split_envelopes(inbox, "customers", "salesforce", split) == 1  # only notification 4 is new
    assert split_envelopes(inbox, "customers", "salesforce", split) == 0
    due = inbox.due("customers", "salesforce")
    assert [e["event_id"] for e in due] == ["04l000000000003", "04l000000000001", "04l000000000002"]  # sent order
    assert [e["external_id"] for e in inbox.due("contacts", "salesforce")] == ["003000000000004AAA"]
    envelopes = {e["event_id"]: e for e in inbox.rows(event_type=ENVELOPE)}
    assert envelopes[first.event_id]["status"] == envelopes[redelivered.event_id]["status"] == "applied"
    assert envelopes[broken.event_id]["status"] == "ignored"  # kept with the reason, not lost silently
    assert envelopes[broken.event_id]["outcome"] == "undecodable" and envelopes[broken.event_id]["last_error"]


def test_a_tenants_envelope_splits_under_that_tenant_only(engine):
    InboxStore(engine).add([envelope_event(parse(message(notification(1))), ROUTES, AT, tenant="t1")])
    assert split_envelopes(InboxStore(engine), "customers", "salesforce", split) == 0  # the default tenant's: none
    assert split_envelopes(InboxStore(engine, "t1"), "customers", "salesforce", split) == 1
    [event] = InboxStore(engine, "t1").due("customers", "salesforce")
    assert (event["event_id"], event["tenant"]) == ("04l000000000001", "t1") and not InboxStore(engine).rows()


