"""Parsing and authenticating Salesforce outbound messages: the documented shape, hostile XML, every auth layer."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from zensync_pipelines.store.inbox import InboxStore
from zensync_pipelines.systems.salesforce import ids
from zensync_pipelines.systems.salesforce.outbound import (MAX_NOTIFICATIONS, OutboundRefused, ack,
                                                           check_content_type, fault, parse, to_events)
from zensync_pipelines.systems.salesforce.outbound_auth import (OutboundSettings, check_network, check_organization,
                                                                check_token, parse_networks)
from zensync_pipelines_tests.conftest import SHARED_REFERENCE

REFERENCE = SHARED_REFERENCE / "salesforce"
SAMPLE = (REFERENCE / "outbound-message-sample.xml").read_bytes()
ORG = "00D000000000001EAA"
ROUTES = {"Account": "customers", "Contact": "customers"}


def message(count: int, org: str = ORG, sobject: str = "Account") -> bytes:
    notifications = "".join(
        f"<Notification><Id>04l5g{n:010d}</Id><sObject xsi:type=\"sf:{sobject}\" "
        f"xmlns:sf=\"urn:sobject.enterprise.soap.sforce.com\"><sf:Id>0015g{n:010d}</sf:Id>"
        f"<sf:Phone>+1 555 {n:04d}</sf:Phone><sf:Fax xsi:nil=\"true\"/>"
        f"<sf:SystemModstamp>2026-11-27T10:15:{n % 60:02d}.000Z</sf:SystemModstamp></sObject></Notification>"
        for n in range(count))
    return (f'<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            f'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
            f'<notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>{org}</OrganizationId>'
            f'<ActionId>04k5g0000000001AAA</ActionId><SessionId xsi:nil="true"/>'
            f'<EnterpriseUrl>https://x/services/Soap/c/59.0</EnterpriseUrl><PartnerUrl>https://x/u</PartnerUrl>'
            f'{notifications}</notifications></soapenv:Body></soapenv:Envelope>').encode()


def test_reference_sample_parses_into_one_inbox_event():
    parsed = parse(SAMPLE)
    assert (parsed.organization_id, parsed.action_id, parsed.session_id) == (ORG, "04k000000000001AAA", None)
    assert parsed.partner_url.endswith("/services/Soap/u/59.0/00D000000000001")
    [event] = to_events(parsed, ROUTES)
    assert (event.system, event.event_id, event.object_type, event.external_id, event.catalog) == \
        ("salesforce", "04l000000000001AAA", "Contact", "003000000000001AAA", "customers")
    assert event.occurred_at == dt.datetime(2026, 11, 27, 10, 15, tzinfo=dt.timezone.utc)
    assert json.loads(event.payload) == {"attributes": {"type": "Contact"}, "Id": "003000000000001AAA",
                                         "Email": "ada@example.com", "LastName": "Lovelace", "Zenskar_Id__c": "42",
                                         "SystemModstamp": "2026-11-27T10:15:00.000Z"}


def test_hundred_notifications_nil_fields_and_unrouted_types():
    parsed = parse(message(MAX_NOTIFICATIONS))
    assert len(parsed.notifications) == 100
    assert parsed.notifications[7].fields["Fax"] is None and parsed.notifications[7].fields["Phone"] == "+1 555 0007"
    events = to_events(parsed, ROUTES)
    assert len({e.event_id for e in events}) == 100
    assert to_events(parse(message(3, sobject="Opportunity")), ROUTES) == []


def test_missing_modstamp_falls_back_to_arrival_time():
    body = message(1).replace(b"<sf:SystemModstamp>2026-11-27T10:15:00.000Z</sf:SystemModstamp>", b"")
    arrived = dt.datetime(2026, 12, 1, tzinfo=dt.timezone.utc)
    [event] = to_events(parse(body), ROUTES, received_at=arrived)
    assert event.occurred_at == arrived


XXE = b"""<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body>
<notifications xmlns="http://soap.sforce.com/2005/09/outbound"><OrganizationId>&xxe;</OrganizationId>
</notifications></soapenv:Body></soapenv:Envelope>"""
LAUGHS = b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/"><soapenv:Body><x>&lol3;</x>
</soapenv:Body></soapenv:Envelope>"""
EXTERNAL_DTD = b"""<?xml version="1.0"?><!DOCTYPE e SYSTEM "http://127.0.0.1:9/evil.dtd"><e/>"""
PARAMETER_ENTITY = b"""<?xml version="1.0"?><!DOCTYPE e [<!ENTITY % p SYSTEM "http://127.0.0.1:9/x">%p;]><e/>"""
FILE_PARAMETER_ENTITY = b"""<?xml version="1.0"?><!DOCTYPE e [<!ENTITY % p SYSTEM "file:///etc/passwd">%p;]><e/>"""


@pytest.mark.parametrize("body", [XXE, LAUGHS, EXTERNAL_DTD, PARAMETER_ENTITY, FILE_PARAMETER_ENTITY],
                         ids=["xxe", "billion-laughs", "external-dtd", "parameter-entity", "file-parameter-entity"])
def test_dtds_and_entities_are_refused(body):
    with pytest.raises(OutboundRefused) as refused:
        parse(body)
    assert refused.value.code == "forbidden_xml" and refused.value.status == 400
    assert b"passwd" not in str(refused.value).encode() and "root:" not in str(refused.value)


@pytest.mark.parametrize("body, words", [
    (b"not xml at all", "well-formed"),
    (b"<soapenv:Envelope xmlns:soapenv='http://schemas.xmlsoap.org/soap/envelope/'><soapenv:Body>", "well-formed"),
    (b"<Envelope><Body/></Envelope>", "SOAP 1.1 Envelope"),
    (SAMPLE.replace(b"http://soap.sforce.com/2005/09/outbound", b"urn:other"), "no notifications"),
    (SAMPLE.replace(b"00D000000000001EAA", b"not-an-id"), "OrganizationId"),
    (message(MAX_NOTIFICATIONS + 1), "101 notifications"),
    (message(0), "0 notifications"),
    (SAMPLE.replace(b' xsi:type="sf:Contact"', b""), "xsi:type"),
    (SAMPLE.replace(b"<Id>04l000000000001AAA</Id>", b""), "lacks its Id"),
    (SAMPLE.replace(b"<Id>04l000000000001AAA</Id>", b"<Id>" + b"x" * 300 + b"</Id>"), "not a Salesforce id"),
    (SAMPLE.replace(b'xsi:type="sf:Contact"', b'xsi:type="sf:Contact;drop"'), "xsi:type"),
    (SAMPLE.replace(b"<sf:Id>003000000000001AAA</sf:Id>", b""), "sObject's Id"),
], ids=["text", "truncated", "no-namespace", "wrong-namespace", "bad-org", "101", "empty", "no-type",
        "no-notification-id", "long-notification-id", "bad-type", "no-record-id"])
def test_malformed_soap_is_refused_with_a_reason(body, words):
    with pytest.raises(OutboundRefused) as refused:
        parse(body)
    assert refused.value.code == "malformed" and words in refused.value.reason


def test_content_type():
    check_content_type("text/xml; charset=utf-8")
    check_content_type("Text/XML")
    for header in (None, "application/json", "application/soap+xml", "text/xml-ish"):
        with pytest.raises(OutboundRefused) as refused:
            check_content_type(header)
        assert refused.value.status == 415


def test_oversized_body_is_refused_before_parsing():
    with pytest.raises(OutboundRefused) as refused:
        parse(SAMPLE, max_bytes=len(SAMPLE) - 1)
    assert (refused.value.code, refused.value.status) == ("too_large", 413)


def test_ids_fifteen_and_eighteen_character_forms():
    assert ids.checksum("00D000000000001") == "EAA"
    assert ids.checksum("001Hp00002fXJtq") == "IAG"  # H -> bit 3 (I), none (A), X,J -> bits 1,2 (G)
    assert ids.canonical("001Hp00002fXJtq") == "001Hp00002fXJtqIAG"
    # the 18-character form is case-insensitive: the suffix restores the case of the first 15
    assert ids.canonical("001hp00002fxjtqiag") == "001Hp00002fXJtqIAG"
    assert ids.same_id("001Hp00002fXJtq", "001HP00002FXJTQIAG")
    assert not ids.same_id("001hp00002fXJtq", "001Hp00002fXJtq")  # 15 characters are case-sensitive
    assert ids.canonical("00D000000000001EAB") is None  # an upper-case bit on a digit: no id has this suffix
    assert ids.canonical("00D00000000001") is None and ids.canonical("00D00000000000!EAA") is None


@pytest.mark.parametrize("configured", [ORG, ORG[:15], ORG.lower()])
def test_organization_accepted_in_both_forms(configured):
    check_organization(parse(SAMPLE), configured)
    check_organization(parse(message(1, org=ORG[:15])), configured)


def test_organization_mismatch_is_refused():
    with pytest.raises(OutboundRefused) as refused:
        check_organization(parse(SAMPLE), "00D5g000000ZSBXEA4")
    assert (refused.value.code, refused.value.status) == ("organization_mismatch", 403)
    with pytest.raises(ValueError, match="SALESFORCE_ORGANIZATION_ID"):
        check_organization(parse(SAMPLE), "00D-not-an-id")


def test_path_token():
    check_token(None, None)
    check_token("anything", "")
    check_token("s3cret-token", "s3cret-token")
    for given in (None, "", "s3cret-toke", "s3cret-token2", "S3CRET-TOKEN"):
        with pytest.raises(OutboundRefused) as refused:
            check_token(given, "s3cret-token")
        assert (refused.value.code, refused.value.status) == ("bad_token", 404)
        assert "s3cret" not in str(refused.value)


def test_source_networks():
    allowed = parse_networks("13.108.0.0/14, 2a01:111::/32,10.0.0.7")
    for address in ("13.110.1.2", "::ffff:13.108.0.1", "2a01:111::5", "10.0.0.7"):
        check_network(address, allowed)
    for address in ("13.112.0.1", "10.0.0.8", "2a01:112::1", None, "garbage"):
        with pytest.raises(OutboundRefused) as refused:
            check_network(address, allowed)
        assert refused.value.code == "network_denied"
    check_network("203.0.113.9", parse_networks(""))
    with pytest.raises(ValueError, match="'13.108.0.0/99'"):
        parse_networks("13.108.0.0/99")


def test_request_layers_run_network_first_then_token():
    settings = OutboundSettings("00D5g000000ZSBXEA4", "tok", tuple(parse_networks("13.108.0.0/14")))
    with pytest.raises(OutboundRefused, match="network_denied"):
        settings.check_request("10.0.0.1", "bad")
    with pytest.raises(OutboundRefused, match="bad_token"):
        settings.check_request("13.108.0.1", "bad")
    settings.check_request("13.108.0.1", "tok")
    with pytest.raises(OutboundRefused, match="organization_mismatch"):
        settings.check_message(parse(SAMPLE))


def test_ack_and_fault_shapes():
    reference = (REFERENCE / "outbound-ack.xml").read_bytes()
    assert ack().split() == reference.split()
    text = fault("database unavailable & retrying").decode()
    assert "<faultcode>soapenv:Server</faultcode>" in text and "database unavailable &amp; retrying" in text


def test_events_dedupe_in_the_inbox(engine):
    inbox = InboxStore(engine)
    events = to_events(parse(message(100)), ROUTES)
    assert inbox.add(events) == 100
    assert inbox.add(list(reversed(events))) == 0  # a resent message (lost Ack) stores nothing twice
    assert len(inbox.rows(system="salesforce")) == 100


def test_settings_from_the_environment():
    settings = OutboundSettings.from_env({"SALESFORCE_ORGANIZATION_ID": ORG[:15], "SALESFORCE_OUTBOUND_TOKEN": "t0k",
                                          "SALESFORCE_OUTBOUND_NETWORKS": "13.108.0.0/14"})
    settings.check_request("13.108.0.9", "t0k")
    settings.check_message(parse(SAMPLE))
    assert "t0k" not in repr(settings)
    with pytest.raises(OutboundRefused, match="bad_token"):
        settings.check_request("13.108.0.9", "t0")
    with pytest.raises(ValueError, match="SALESFORCE_ORGANIZATION_ID .* it is not set"):
        OutboundSettings.from_env({})
    with pytest.raises(ValueError, match="SALESFORCE_OUTBOUND_NETWORKS: .*'nope'"):
        OutboundSettings.from_env({"SALESFORCE_ORGANIZATION_ID": ORG, "SALESFORCE_OUTBOUND_NETWORKS": "nope"})
    open_door = OutboundSettings.from_env({"SALESFORCE_ORGANIZATION_ID": ORG})
    open_door.check_request("203.0.113.1", None)
    assert open_door.token is None and open_door.networks == ()
