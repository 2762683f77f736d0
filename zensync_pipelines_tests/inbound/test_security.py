"""The receiver as a hostile client meets it, on both routes, over real HTTP on the receiver's own server
configuration: malformed or unstorable signed input is a 4xx with a short reason (never a 5xx, never a
traceback), every refusal is logged once with its route, status and reason and with control characters escaped,
slow clients are cut off by deadlines while valid deliveries go on, forwarded addresses are believed only from
configured proxies, /healthz tells the truth about the database and no redirect is built from Host."""

from __future__ import annotations

import json
import logging
import selectors
import socket
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from zensync_pipelines.inbound.server import ServerSettings
from zensync_pipelines.sandbox.salesforce.auth import ORG_ID
from zensync_pipelines.sandbox.stripe.webhooks import sign
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.inbox import InboxStore
from zensync_pipelines.systems.salesforce.outbound_auth import OutboundSettings, parse_networks
from zensync_pipelines_tests.conftest import free_port

from .receiver import receiver

SECRET, TOKEN = "whsec_security", "s3cret-path-t0ken"
SALESFORCE = OutboundSettings(ORG_ID, TOKEN)


def event(**fields) -> dict:
    base = {"id": "evt_ok", "object": "event", "type": "customer.updated", "created": int(time.time()),
            "request": {"id": None, "idempotency_key": None},
            "data": {"object": {"id": "cus_1", "object": "customer", "metadata": {"zenskar_id": "1"}}}}
    return base | fields


def post(url: str, body, session=None, **headers) -> requests.Response:
    text = body if isinstance(body, str) else json.dumps(body)
    headers = {"Content-Type": "application/json", "Stripe-Signature": sign(text, [SECRET], int(time.time())),
               **headers}
    return (session or requests).post(f"{url}/webhooks/stripe", data=text.encode(), headers=headers, timeout=10)


def soap(action_id: str = "04k000000000001AAA", notification_id: str = "04l000000000001AAA",
         org: str = ORG_ID) -> bytes:
    return ('<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope '
            'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
            'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><soapenv:Body>'
            '<notifications xmlns="http://soap.sforce.com/2005/09/outbound">'
            f"<OrganizationId>{org}</OrganizationId><ActionId>{action_id}</ActionId>"
            f'<SessionId xsi:nil="true"/><Notification><Id>{notification_id}</Id>'
            '<sObject xsi:type="sf:Account" xmlns:sf="urn:sobject.enterprise.soap.sforce.com">'
            "<sf:Id>001000000000001AAA</sf:Id><sf:Phone>+1 555 0100</sf:Phone>"
            "<sf:SystemModstamp>2026-12-01T10:00:00.000Z</sf:SystemModstamp></sObject></Notification>"
            "</notifications></soapenv:Body></soapenv:Envelope>").encode()


def soap_post(url: str, body: bytes, path: str = f"/webhooks/salesforce/{TOKEN}", **headers) -> requests.Response:
    return requests.post(url + path, data=body, headers={"Content-Type": "text/xml; charset=utf-8", **headers},
                         timeout=10)


def refusals(caplog) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "zensync.webhooks" and r.levelno >= logging.WARNING]


def assert_logged_once(caplog, route: str, status: int, reason: str) -> None:
    lines = [r.getMessage() for r in refusals(caplog)]
    assert len(lines) == 1, lines
    assert f" {route} refused {status}: " in lines[0] and reason in lines[0], lines
    assert "\n" not in lines[0] and "Traceback" not in caplog.text
    assert SECRET not in caplog.text and TOKEN not in caplog.text


@pytest.fixture
def sqlite_engine(sqlite_url):
    from zensync_pipelines.store import migrate

    engine = make_engine(sqlite_url)
    migrate.upgrade(engine)
    return engine


STRIPE_CASES = [
    ("created 1e20", event(created=10**20), "created is not a time in seconds"),
    ("created a float", event(created=1.5e9), "created is not a time in seconds"),
    ("signed {}", {}, "id is not a non-empty string"),
    ("signed []", [], "not a JSON object"),
    ("data.object not an object", event(data={"object": "cus_1"}), "data.object is not an object"),
    ("object id a number", event(data={"object": {"object": "customer", "id": 7}}), "data.object.id"),
    ("over-long id", event(id="evt_" + "x" * 300), "event_id is longer than 255 characters"),
    ("NUL in the id", event(id="evt_\x00bad"), "event_id holds characters other than printable ASCII"),
    ("newline in the id", event(id="evt_1\nINFO forged line"), "event_id holds characters other than printable"),
    ("over-long object id", event(data={"object": {"object": "customer", "id": "cus_" + "x" * 300}}),
     "external_id is longer than 255"),
    ("deeply nested JSON", "[" * 100000 + "]" * 100000, "body is not a Stripe event"),
]


@pytest.mark.parametrize("case, body, reason", STRIPE_CASES, ids=[c[0] for c in STRIPE_CASES])
def test_malformed_or_unstorable_signed_events_are_a_400_logged_once(engine, case, body, reason, caplog):
    with receiver(engine, [SECRET]) as url:
        caplog.clear()
        answer = post(url, body)
        assert answer.status_code == 400 and reason in answer.json()["error"], answer.text
        assert_logged_once(caplog, "/webhooks/stripe", 400, reason)
        assert post(url, event()).json() == {"stored": 1}  # the receiver goes on
    assert [e["event_id"] for e in InboxStore(engine).rows()] == ["evt_ok"]


def test_salesforce_refusals_are_logged_once_each_with_the_route_and_nothing_secret(sqlite_engine, caplog):
    other_org = "00D000000000002AAA"
    cases = [  # (path, body, headers, status, reason in the log)
        ("/webhooks/salesforce/wrong-token", soap(), {}, 404, "bad_token"),
        ("/webhooks/salesforce", soap(), {}, 404, "bad_token"),
        (f"/webhooks/salesforce/{TOKEN}", soap(org=other_org), {}, 403, "organization_mismatch"),
        (f"/webhooks/salesforce/{TOKEN}", b"<x/>" * 2000, {}, 413, "body over"),
        (f"/webhooks/salesforce/{TOKEN}", soap(), {"Content-Type": "application/json"}, 415, "unsupported_media"),
        (f"/webhooks/salesforce/{TOKEN}", soap(notification_id="04l" + "0" * 300), {}, 400, "malformed"),
        (f"/webhooks/salesforce/{TOKEN}", b"<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>", {}, 400, "forbidden_xml"),
    ]
    with receiver(sqlite_engine, [SECRET], max_body_bytes=4096, salesforce=SALESFORCE) as url:
        for path, body, headers, status, reason in cases:
            caplog.clear()
            answer = soap_post(url, body, path, **headers)
            assert answer.status_code == status and b"soapenv:Fault" in answer.content, (path, answer.text)
            route = "/webhooks/salesforce/{token}" if path.count("/") == 3 else "/webhooks/salesforce"
            assert_logged_once(caplog, route, status, reason)
        assert InboxStore(sqlite_engine).rows() == []
        # An ActionId carrying a newline cannot forge a log line: it is printed escaped, on its own line.
        caplog.clear()
        caplog.set_level(logging.INFO, logger="zensync.webhooks")
        assert soap_post(url, soap(action_id="04k&#10;ERROR forged")).status_code == 200
        line = next(r.getMessage() for r in caplog.records if "outbound message" in r.getMessage())
        assert "04k\\x0aERROR forged" in line and "\n" not in line
    assert len(InboxStore(sqlite_engine).rows()) == 1


def test_forwarded_addresses_count_only_from_configured_proxies(sqlite_engine, monkeypatch):
    only_10 = OutboundSettings(ORG_ID, TOKEN, tuple(parse_networks("10.0.0.0/8")))
    forged = {"X-Forwarded-For": "10.1.2.3"}
    with receiver(sqlite_engine, [SECRET], salesforce=only_10) as url:  # ZENSYNC_TRUSTED_PROXIES unset
        assert soap_post(url, soap(), **forged).status_code == 403  # a local process claims an allowed address
    monkeypatch.setenv("ZENSYNC_TRUSTED_PROXIES", "127.0.0.1")
    proxies = ServerSettings.proxies_from_env()
    assert proxies == ("127.0.0.1/32",)
    with receiver(sqlite_engine, [SECRET], salesforce=only_10, trusted_proxies=proxies) as url:
        assert soap_post(url, soap(), **forged).status_code == 200  # the named proxy is believed
        assert soap_post(url, soap(notification_id="04l000000000002AAA")).status_code == 403
    monkeypatch.setenv("ZENSYNC_TRUSTED_PROXIES", "10.0.0.0/33")
    with pytest.raises(ValueError, match="ZENSYNC_TRUSTED_PROXIES"):
        ServerSettings.proxies_from_env()


def test_healthz_is_a_503_naming_the_database_while_it_is_unreachable(sqlite_engine, caplog):
    down = make_engine(f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/test")
    with receiver(down, [SECRET], salesforce=SALESFORCE) as url:
        answer = requests.get(f"{url}/healthz", timeout=10)
        assert answer.status_code == 503
        assert answer.json()["status"] == "unavailable" and answer.json()["database"].startswith("unreachable")
        assert post(url, event()).status_code == 503  # "the database cannot take it now": the only 5xx
        assert soap_post(url, soap()).status_code == 500
    with receiver(sqlite_engine, [SECRET]) as url:
        assert requests.get(f"{url}/healthz", timeout=10).json() == {
            "status": "ok", "receivers": ["stripe"], "database": "ok"}


def test_no_redirect_is_built_from_the_host_header(sqlite_engine, caplog):
    with receiver(sqlite_engine, [SECRET], salesforce=SALESFORCE) as url:
        for path in ("/webhooks/stripe/", f"/webhooks/salesforce/{TOKEN}/", "/healthz/"):
            caplog.clear()
            answer = requests.post(url + path, data=b"{}", headers={"Host": "evil.example"}, allow_redirects=False,
                                   timeout=10)
            assert answer.status_code in (404, 405) and "location" not in answer.headers
            assert len(refusals(caplog)) == 1 and TOKEN not in caplog.text


def _closed_within(sockets: list[socket.socket], seconds: float) -> int:
    """How many of `sockets` the server closed (EOF or reset) within `seconds`."""
    selector = selectors.DefaultSelector()
    for sock in sockets:
        selector.register(sock, selectors.EVENT_READ)
    closed, deadline = 0, time.monotonic() + seconds
    while closed < len(sockets) and time.monotonic() < deadline:
        for key, _ in selector.select(timeout=max(0.0, deadline - time.monotonic())):
            try:
                data = key.fileobj.recv(4096)
            except ConnectionResetError:
                data = b""
            if not data or b"408" in data:
                closed += 1
                selector.unregister(key.fileobj)
    selector.close()
    return closed


def test_a_thousand_half_sent_requests_are_closed_within_the_timeout_while_deliveries_go_on(sqlite_engine, caplog):
    header_timeout, body_timeout = 2.0, 2.0
    with receiver(sqlite_engine, [SECRET], header_timeout=header_timeout, body_timeout=body_timeout) as url:
        port = int(url.rsplit(":", 1)[1])
        slow = []
        for n in range(1000):
            sock = socket.create_connection(("127.0.0.1", port))
            if n % 3 == 0:
                pass  # connects and sends nothing
            elif n % 3 == 1:
                sock.sendall(b"POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nContent-Ty")  # headers cut off
            else:  # headers whole, half of the body
                sock.sendall(b"POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                             b"Content-Length: 100\r\n\r\n{\"id\": ")
            slow.append(sock)
        opened = time.monotonic()

        def deliver(n: int) -> int:
            return post(url, event(id=f"evt_during_{n}")).status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = pool.map(deliver, range(60))  # valid deliveries, while the thousand hang
            # Each deadline runs from the server's reading of that connection; the slack is for a loaded machine.
            closed = _closed_within(slow, header_timeout + body_timeout + 5)
            closed_after = time.monotonic() - opened
            assert list(statuses) == [200] * 60
        assert closed == 1000, f"{closed} of 1000 slow connections closed within {closed_after:.1f} s"
        for sock in slow:
            sock.close()
        assert post(url, event(id="evt_after")).status_code == 200
    assert len(InboxStore(sqlite_engine).rows()) == 61
    lines = [r.getMessage() for r in refusals(caplog)]
    assert sum("headers not received within 2 s" in line for line in lines) == 667  # no route saw them
    assert sum("refused 408" in line and "/webhooks/stripe" in line for line in lines) == 333


def test_a_trickling_client_is_cut_off_at_the_deadline_not_at_each_byte(sqlite_engine):
    with receiver(sqlite_engine, [SECRET], header_timeout=1.5, keep_alive=5) as url:
        sock = socket.create_connection(("127.0.0.1", int(url.rsplit(":", 1)[1])))
        started = time.monotonic()
        request = b"POST /webhooks/stripe HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 100
        with pytest.raises((BrokenPipeError, ConnectionResetError)):
            for byte in request:  # one byte every 0.1 s: each would reset uvicorn's own keep-alive timer
                sock.sendall(bytes([byte]))
                time.sleep(0.1)
                assert time.monotonic() - started < 5, "still open well past the header deadline"
        assert 1.4 < time.monotonic() - started < 3
        sock.close()


def test_connections_over_the_cap_are_answered_503(sqlite_engine):
    with receiver(sqlite_engine, [SECRET], max_connections=20) as url:
        port = int(url.rsplit(":", 1)[1])
        idle = [socket.create_connection(("127.0.0.1", port)) for _ in range(25)]
        time.sleep(0.2)
        assert post(url, event()).status_code == 503
        for sock in idle:
            sock.close()
        time.sleep(0.2)
        assert post(url, event()).status_code == 200
