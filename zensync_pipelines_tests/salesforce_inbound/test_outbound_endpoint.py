"""`receive` behind a small HTTP server, fed by the sandbox org over real HTTP: every refusal stores nothing and
is not acknowledged, so Salesforce keeps the notifications; fixing the cause delivers them, each once."""

from __future__ import annotations

from typing import Iterator

import pytest

from zensync_pipelines.sandbox.salesforce import SalesforceSandbox
from zensync_pipelines.sandbox.salesforce.auth import ORG_ID
from zensync_pipelines.store.inbox import InboxStore
from zensync_pipelines.systems.salesforce.outbound import ack
from zensync_pipelines.systems.salesforce.outbound_auth import OutboundSettings, parse_networks
from zensync_pipelines.systems.salesforce.outbound_endpoint import receive
from zensync_pipelines_tests.conftest import SHARED_REFERENCE, free_port
from zensync_pipelines_tests.salesforce_inbound.endpoint import ROUTES, TOKEN, Endpoint
from zensync_pipelines_tests.sandbox_salesforce.conftest import client, wait_until

OTHER_ORG = "00D000000000001EAA"


@pytest.fixture
def org() -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox() as sandbox:
        sandbox.configure(outbound_base_delay=0.01, outbound_max_delay=0.05)
        yield sandbox


def refused_then_fixed(org, endpoint, url: str, status: int, fix) -> None:
    before = {e["id"] for e in endpoint.inbox.rows(system="salesforce")}
    org.outbound.configure({"*": url})
    record_id = client(org).Account.create({"Name": "Acme"})["id"]
    wait_until(lambda: len(endpoint.statuses) >= 3)
    assert set(endpoint.statuses) == {status}
    assert {e["id"] for e in endpoint.inbox.rows(system="salesforce")} == before  # nothing stored
    assert org.outbound.status()["pending"] == 1  # not acknowledged: the org keeps it
    fix()
    wait_until(lambda: org.outbound.status()["pending"] == 0)
    assert endpoint.statuses[-1] == 200
    assert [e["external_id"] for e in endpoint.inbox.rows(system="salesforce") if e["id"] not in before] == \
        [record_id]


def test_wrong_or_missing_token_is_a_404_until_the_url_is_fixed(org, engine):
    with Endpoint(InboxStore(engine)) as endpoint:
        refused_then_fixed(org, endpoint, endpoint.base + "/not-the-token", 404,
                           lambda: org.outbound.configure({"*": endpoint.url}))
    with Endpoint(InboxStore(engine)) as endpoint:
        assert endpoint.url.endswith(TOKEN)
        refused_then_fixed(org, endpoint, endpoint.base, 404, lambda: org.outbound.configure({"*": endpoint.url}))


def test_another_organization_is_a_403(org, engine):
    with Endpoint(InboxStore(engine), OutboundSettings(OTHER_ORG, TOKEN)) as endpoint:
        def configure_the_right_org() -> None:
            endpoint.settings = OutboundSettings(ORG_ID[:15], TOKEN)  # the 15-character form works too

        refused_then_fixed(org, endpoint, endpoint.url, 403, configure_the_right_org)


def test_source_network_outside_the_allow_list_is_a_403(org, engine):
    settings = OutboundSettings(ORG_ID, TOKEN, tuple(parse_networks("13.108.0.0/14")))
    with Endpoint(InboxStore(engine), settings) as endpoint:
        def allow_loopback() -> None:
            endpoint.settings = OutboundSettings(ORG_ID, TOKEN, tuple(parse_networks("127.0.0.0/8")))

        refused_then_fixed(org, endpoint, endpoint.url, 403, allow_loopback)


def test_database_down_is_a_fault_then_the_resend_is_stored(org, engine):
    with Endpoint(InboxStore(engine)) as endpoint:
        endpoint.down_for = 10**6
        refused_then_fixed(org, endpoint, endpoint.url, 500, lambda: setattr(endpoint, "down_for", 0))


def test_an_endpoint_that_is_down_gets_the_notifications_when_it_is_back(org, engine):
    port = free_port()
    org.outbound.configure({"*": f"http://127.0.0.1:{port}/webhooks/salesforce/{TOKEN}"})
    record_id = client(org).Account.create({"Name": "Acme"})["id"]
    wait_until(lambda: org.outbound.status()["stats"]["failed_attempts"] >= 3)  # connection refused, resent
    with Endpoint(InboxStore(engine), port=port) as endpoint:
        wait_until(lambda: org.outbound.status()["pending"] == 0)
        assert [e["external_id"] for e in endpoint.inbox.rows(system="salesforce")] == [record_id]


def test_receive_answers(engine):
    inbox = InboxStore(engine)
    settings = OutboundSettings("00D000000000001", "tok")
    sample = (SHARED_REFERENCE / "salesforce" / "outbound-message-sample.xml").read_bytes()
    answer = receive(sample, "text/xml; charset=utf-8", "127.0.0.1", "tok", settings, ROUTES, inbox)
    assert (answer.status, answer.body, answer.notifications, answer.stored) == (200, ack(), 1, 1)
    again = receive(sample, "text/xml", "127.0.0.1", "tok", settings, ROUTES, inbox)
    assert (again.status, again.stored) == (200, 0)  # a redelivery is acknowledged and stores nothing
    for content_type, body, status, code in [("application/json", sample, 415, "unsupported_media_type"),
                                             ("text/xml", b"<x", 400, "malformed"),
                                             ("text/xml", b"<!DOCTYPE x [<!ENTITY a 'b'>]><x>&a;</x>", 400,
                                              "forbidden_xml")]:
        refused = receive(body, content_type, "127.0.0.1", "tok", settings, ROUTES, inbox)
        assert (refused.status, refused.refused) == (status, code)
        assert b"<faultcode>soapenv:Client</faultcode>" in refused.body
    assert len(inbox.rows(system="salesforce")) == 1
