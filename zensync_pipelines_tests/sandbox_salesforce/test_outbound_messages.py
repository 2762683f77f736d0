"""The sandbox's outbound messages, received by a small endpoint built on zensync's own parser and inbox: the
documented shape, batching, retries until Acked, at-least-once knobs, and which writes fire."""

from __future__ import annotations

import datetime
from typing import Iterator

import pytest
from click.testing import CliRunner
from simple_salesforce import Salesforce

from zensync_pipelines.cli.sandbox import sandbox
from zensync_pipelines.sandbox.salesforce import SalesforceSandbox
from zensync_pipelines.sandbox.salesforce.auth import ORG_ID, SALES_USER_ID, USER_ID
from zensync_pipelines.cli.sandbox_salesforce import command, parse_outbound_urls
from zensync_pipelines.store import migrate
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.inbox import InboxStore
from zensync_pipelines_tests.salesforce_inbound.endpoint import Endpoint

from .conftest import accounts, client, wait_until


@pytest.fixture
def endpoint(sqlite_url) -> Iterator[Endpoint]:
    # The inbox is only the endpoint's storage here (its backends are tested in store/): SQLite is enough.
    engine = make_engine(sqlite_url)
    migrate.upgrade(engine)
    with Endpoint(InboxStore(engine)) as receiving:
        yield receiving
    engine.dispose()


@pytest.fixture
def org(endpoint) -> Iterator[SalesforceSandbox]:
    with SalesforceSandbox(outbound_urls={"*": endpoint.url}) as sandbox:
        sandbox.configure(outbound_base_delay=0.01, outbound_max_delay=0.05)
        yield sandbox


def drained(sb: SalesforceSandbox) -> bool:
    return sb.outbound.status()["pending"] == 0


def test_every_users_writes_fire_with_the_documented_shape(org, endpoint):
    sales = Salesforce(instance_url=org.instance_url, session_id=org.new_session(SALES_USER_ID),
                       session=org.requests_session())
    account = sales.Account.create({"Name": "Acme", "Phone": "+1 555 0100"})["id"]
    integration = client(org)
    contact = integration.Contact.create({"LastName": "Lovelace", "Zenskar_Id__c": "42"})["id"]
    wait_until(lambda: len(endpoint.notifications()) == 2 and drained(org))
    content_type, first = endpoint.messages[0]
    assert content_type == "text/xml; charset=utf-8"
    assert first.organization_id == ORG_ID and first.session_id is None and first.action_id.startswith("04k")
    by_record = {n.record_id: n for n in endpoint.notifications()}
    # a receiver tells zensync's own writes (echoes) from a person's by the author
    assert by_record[account].fields["LastModifiedById"] == SALES_USER_ID
    assert by_record[contact].fields["LastModifiedById"] == USER_ID
    assert by_record[account].fields["Phone"] == "+1 555 0100" and "Zenskar_Id__c" not in \
        by_record[account].fields  # a null field is left out, as a real org does
    assert by_record[contact].fields["Zenskar_Id__c"] == "42" and by_record[contact].sobject_type == "Contact"
    # SystemModstamp and /updated agree with what the API reports for the record
    [record] = integration.query(f"SELECT SystemModstamp, CreatedById FROM Account WHERE Id = '{account}'")[
        "records"]
    assert by_record[account].modstamp.isoformat(timespec="milliseconds").replace("+00:00", "+0000") == \
        record["SystemModstamp"] and record["CreatedById"] == SALES_USER_ID
    now = datetime.datetime.now(datetime.timezone.utc)
    assert account in integration.Account.updated(now - datetime.timedelta(hours=1),
                                                  now + datetime.timedelta(hours=1))["ids"]
    # the org id in the message is the one the API reports to a logged-in client
    info = org.requests_session().get(f"{org.url}/services/oauth2/userinfo",
                                      headers={"Authorization": f"Bearer {org.new_session()}"}).json()
    assert (info["organization_id"], info["user_id"]) == (ORG_ID, USER_ID)
    assert {e["external_id"] for e in endpoint.inbox.rows(system="salesforce")} == {account, contact}


def test_a_notification_carries_the_record_as_it_is_when_sent(org, endpoint):
    org.configure(outbound_paused=True)
    sf = client(org)
    record_id = sf.Account.create({"Name": "Before"})["id"]
    sf.Account.update(record_id, {"Name": "After"})
    org.configure(outbound_paused=False)
    wait_until(lambda: drained(org) and len(endpoint.notifications()) == 2)
    assert [n.fields["Name"] for n in endpoint.notifications()] == ["After", "After"]
    assert len({n.id for n in endpoint.notifications()}) == 2


def test_batches_of_at_most_one_hundred(org, endpoint):
    org.configure(outbound_paused=True)
    sf = client(org)
    for start in range(0, 250, 200):
        sf.restful("composite/sobjects", method="POST",
                   json={"allOrNone": False, "records": accounts(250, "b")[start:start + 200]})
    assert org.outbound.status()["pending"] == 250
    org.configure(outbound_paused=False)
    wait_until(lambda: drained(org), timeout=30)
    sizes = sorted(len(m.notifications) for _, m in endpoint.messages)
    assert sizes == [50, 100, 100]
    assert len(endpoint.inbox.rows(system="salesforce")) == 250


def test_resent_with_backoff_until_acked(org, endpoint):
    endpoint.down_for = 3
    client(org).Contact.create({"LastName": "Lovelace", "Email": "ada@example.com"})
    wait_until(lambda: drained(org))
    ids = [n.id for n in endpoint.notifications()]
    assert len(ids) == 4 and len(set(ids)) == 1  # the same notification id every time
    assert org.outbound.status()["stats"]["failed_attempts"] == 3 and endpoint.statuses == [500, 500, 500, 200]
    assert len(endpoint.inbox.rows(system="salesforce")) == 1


def test_duplicates_reorder_and_lost_acks_store_each_change_once(org, endpoint):
    org.configure(outbound_paused=True, outbound_drop_ack_rate=0.5, outbound_duplicate_rate=0.3,
                  outbound_reorder=True, seed=7)
    sf = client(org)
    ids = [r["id"] for r in sf.restful("composite/sobjects", method="POST",
                                       json={"allOrNone": True, "records": accounts(40, "d")})]
    for record_id in ids[:20]:
        sf.Account.update(record_id, {"Phone": "+1 555 0199"})
    org.configure(outbound_paused=False)
    wait_until(lambda: drained(org), timeout=30)
    stats = org.outbound.status()["stats"]
    assert stats["acks_dropped"] > 0 and stats["duplicates_sent"] > 0
    delivered = endpoint.notifications()
    assert len(delivered) > 60
    assert [n.record_id for n in delivered[:40]] != ids  # shuffled, not creation order
    stored = endpoint.inbox.rows(system="salesforce")
    assert len(stored) == len({n.id for n in delivered}) == 60


def test_rolled_back_deleted_and_unconfigured_writes_send_nothing(org, endpoint):
    sf = client(org)
    bad = accounts(3, "r")
    bad[1]["Name"] = None
    sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": bad})
    kept = sf.Account.create({"Name": "Kept"})["id"]
    wait_until(lambda: len(endpoint.notifications()) == 1 and drained(org))
    sf.Account.delete(kept)
    sf.Invoice__c.create({"Name": "INV-1"})
    org.configure(outbound_paused=True)  # a write now would queue; none does
    assert org.outbound.status()["pending"] == 0 and len(endpoint.notifications()) == 1
    now = datetime.datetime.now(datetime.timezone.utc)
    deleted = sf.Account.deleted(now - datetime.timedelta(hours=1), now + datetime.timedelta(hours=1))
    assert [r["id"] for r in deleted["deletedRecords"]] == [kept]  # deletes reach a poller, not a message


def test_admin_endpoint_and_flag():
    with SalesforceSandbox() as sb:
        http = sb.requests_session()
        answer = http.post(f"{sb.url}/_sandbox/outbound", json={"urls": {"Invoice__c": "http://127.0.0.1:9/x"}})
        assert answer.json()["urls"] == {"Invoice__c": "http://127.0.0.1:9/x"}
        http.post(f"{sb.url}/_sandbox/outbound", json={"urls": {"Invoice__c": "", "*": "http://127.0.0.1:9/y"}})
        assert http.get(f"{sb.url}/_sandbox/outbound").json()["urls"] == {"Account": "http://127.0.0.1:9/y",
                                                                         "Contact": "http://127.0.0.1:9/y"}
        refused = http.post(f"{sb.url}/_sandbox/outbound", json={"urls": {"Opportunity": "http://127.0.0.1:9/z"}})
        assert refused.status_code == 400 and "Opportunity" in refused.json()["error"]
    assert parse_outbound_urls(["http://h/a?x=1", "Contact=https://h/c?y=2"]) == {
        "*": "http://h/a?x=1", "Contact": "https://h/c?y=2"}
    result = CliRunner().invoke(command, ["--outbound-url", "Account=ftp://nope"])
    assert result.exit_code == 2 and "--outbound-url" in result.output


def test_queue_survives_a_restart_with_data(endpoint, tmp_path):
    data = str(tmp_path / "org.json")
    with SalesforceSandbox(data_file=data, outbound_urls={"*": endpoint.url}) as first:
        first.configure(outbound_paused=True)
        record_id = client(first).Account.create({"Name": "Queued"})["id"]
        [queued] = first.outbound.dump()
    with SalesforceSandbox(data_file=data, outbound_urls={"*": endpoint.url}) as second:
        wait_until(lambda: drained(second) and endpoint.notifications())
    [delivered] = endpoint.notifications()
    assert (delivered.id, delivered.record_id) == (queued["id"], record_id)


def test_edit_command_writes_as_the_sales_user(org, endpoint):
    sf = client(org)
    tagged = sf.Account.create({"Name": "Acme", "Zenskar_Id__c": "1"})["id"]
    runner = CliRunner()
    base = ["--url", org.url, "--ca-file", org.ca_file]
    edited = runner.invoke(sandbox, ["salesforce-edit", *base, "Account", "1", "Phone=+1 555 0100", "Website="])
    assert edited.exit_code == 0, edited.output
    created = runner.invoke(sandbox, ["salesforce-edit", *base, "Account", "new", "Name=Made in Salesforce"])
    assert created.exit_code == 0, created.output
    [record] = sf.query(f"SELECT Phone, LastModifiedById FROM Account WHERE Id = '{tagged}'")["records"]
    assert (record["Phone"], record["LastModifiedById"]) == ("+1 555 0100", SALES_USER_ID)
    assert sf.query("SELECT Zenskar_Id__c FROM Account WHERE Name = 'Made in Salesforce'")["records"][0][
        "Zenskar_Id__c"] is None
    wait_until(lambda: drained(org) and len(endpoint.notifications()) == 3)
    assert [n.fields["LastModifiedById"] for n in endpoint.notifications()[1:]] == [SALES_USER_ID] * 2
    bad = runner.invoke(sandbox, ["salesforce-edit", *base, "Account", "1", "Phone"])
    assert bad.exit_code == 2 and "FIELD=VALUE" in bad.output
