"""POST /webhooks/salesforce[/<token>] on the receiver app (uvicorn, real HTTP), fed by the sandbox org's outbound
messages: stored once and acknowledged after the commit; wrong token, oversized body, database down answered
with a SOAP fault and nothing stored, then delivered by the org's retries."""

from __future__ import annotations

import contextlib
import threading
from typing import Iterator

import pytest
import requests
import uvicorn

from zensync_pipelines.catalogs import load_specs
from zensync_pipelines.inbound.app import Receiver, ReceiverContext, build_app
from zensync_pipelines.inbound.salesforce import build_routes, settings_from_env
from zensync_pipelines.sandbox.salesforce import SalesforceSandbox
from zensync_pipelines.sandbox.salesforce.auth import ORG_ID
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.inbox import InboxStore
from zensync_pipelines.systems.salesforce.outbound_auth import OutboundSettings
from zensync_pipelines_tests.salesforce_inbound.envelopes import notifications
from zensync_pipelines_tests.conftest import SHARED_REFERENCE, free_port, wait_for_port
from zensync_pipelines_tests.sandbox_salesforce.conftest import client, wait_until

TOKEN = "route-t0ken"


@contextlib.contextmanager
def receiver(engine, max_body_bytes: int = 1024 * 1024, context=None) -> Iterator[str]:
    context = context or ReceiverContext(engine, load_specs(), max_body_bytes)
    app = build_app(context, [Receiver("salesforce", lambda c: build_routes(c, OutboundSettings(ORG_ID, TOKEN)))])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_for_port(port)
    try:
        yield f"http://127.0.0.1:{port}/webhooks/salesforce"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def org() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox() as sandbox:
        sandbox.configure(outbound_base_delay=0.01, outbound_max_delay=0.05)
        yield sandbox


def test_notifications_are_stored_once_and_acknowledged(org, engine):
    org.configure(outbound_duplicate_rate=0.5, outbound_drop_ack_rate=0.3, outbound_reorder=True)
    with receiver(engine) as url:
        org.outbound.configure({"*": f"{url}/{TOKEN}"})
        sf = client(org)
        ids = [sf.Account.create({"Name": f"Acme {i}"})["id"] for i in range(5)]
        contact = sf.Contact.create({"LastName": "Lovelace", "Email": "ada@example.com"})["id"]
        wait_until(lambda: org.outbound.status()["pending"] == 0, timeout=20)
    envelopes = InboxStore(engine).rows(system="salesforce")
    assert {(r["event_type"], r["status"]) for r in envelopes} == {("envelope", "pending")}  # one row a message
    rows = notifications(engine)  # split, as the inbox job does first
    assert sorted(r["external_id"] for r in rows) == sorted([*ids, contact])  # duplicates and resends: once each
    assert {(r["catalog"], r["event_type"]) for r in rows} == {("customers", "changed")}
    assert {r["status"] for r in InboxStore(engine).rows(event_type="envelope")} == {"applied"}


def test_a_wrong_token_or_an_oversized_body_stores_nothing(org, engine):
    with receiver(engine, max_body_bytes=2048) as url:
        org.outbound.configure({"*": f"{url}/not-the-token"})
        client(org).Account.create({"Name": "Acme"})
        wait_until(lambda: org.outbound.status()["stats"].get("failed_attempts", 0) >= 2)
        big = requests.post(f"{url}/{TOKEN}", data=b"<x/>" * 1000, headers={"Content-Type": "text/xml"})
        assert big.status_code == 413 and b"faultstring" in big.content
        none = requests.post(url, data=b"<x/>", headers={"Content-Type": "text/xml"})
        assert none.status_code == 404 and b"Fault" in none.content
        assert InboxStore(engine).rows(system="salesforce") == []
        org.outbound.configure({"*": f"{url}/{TOKEN}"})  # the admin fixes the URL: the org's retry delivers
        wait_until(lambda: org.outbound.status()["pending"] == 0, timeout=10)
    assert len(notifications(engine)) == 1


def test_the_database_down_is_a_soap_fault_500_then_the_retry_is_stored(org, engine):
    # PostgreSQL on a port where nothing listens: every commit fails the way an outage does.
    down = make_engine(f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/test")
    context = ReceiverContext(down, load_specs())
    with receiver(engine, context=context) as base:
        org.outbound.configure({"*": f"{base}/{TOKEN}"})
        client(org).Account.create({"Name": "Acme"})
        wait_until(lambda: org.outbound.status()["stats"].get("failed_attempts", 0) >= 2, timeout=10)
        assert org.outbound.status()["pending"] == 1  # a fault is no Ack: the org keeps the notification
        failed = requests.post(f"{base}/{TOKEN}", data=_message(), headers={"Content-Type": "text/xml"})
        assert failed.status_code == 500 and b"soapenv:Server" in failed.content
        context.engine = engine  # the database is back
        wait_until(lambda: org.outbound.status()["pending"] == 0, timeout=10)
    assert len(notifications(engine)) == 1


def test_settings_are_read_once_and_a_bad_org_id_fails_at_start():
    assert settings_from_env({}) is None  # not configured: the route is not mounted
    with pytest.raises(RuntimeError, match="SALESFORCE_ORGANIZATION_ID"):
        settings_from_env({"SALESFORCE_ORGANIZATION_ID": "not-an-id"})
    settings = settings_from_env({"SALESFORCE_ORGANIZATION_ID": ORG_ID[:15], "SALESFORCE_OUTBOUND_TOKEN": "s"})
    assert settings is not None and settings.token == "s"


def _message() -> bytes:
    """The reference sample, as if sent by the configured org."""
    body = (SHARED_REFERENCE / "salesforce" / "outbound-message-sample.xml").read_bytes()
    return body.replace(b"00D000000000001EAA", ORG_ID.encode())
