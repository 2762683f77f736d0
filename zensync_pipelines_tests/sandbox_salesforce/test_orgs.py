"""Several orgs in one Salesforce sandbox, through simple-salesforce and plain HTTPS: distinct OrganizationIds
and users, logins that land in the right org (password, SOAP, client credentials, the refresh-token flow of a
connected app), records, cursors and Bulk jobs that stay in their org, an API allocation per org, an org that is
down alone, and outbound messages per org to that org's endpoint."""

from __future__ import annotations

from typing import Iterator

import pytest
import requests
from simple_salesforce import Salesforce, SalesforceLogin
from simple_salesforce.exceptions import SalesforceError

from zensync_pipelines.sandbox.salesforce import SalesforceSandbox
from zensync_pipelines.sandbox.salesforce.auth import ORG_ID, USER_ID
from zensync_pipelines.store import migrate
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.inbox import InboxStore
from zensync_pipelines.systems.salesforce.outbound_auth import OutboundSettings
from zensync_pipelines_tests.salesforce_inbound.endpoint import TOKEN, Endpoint

from .conftest import accounts, wait_until


def as_user(sb: SalesforceSandbox, user_id: str) -> Salesforce:
    return Salesforce(instance_url=sb.instance_url, session_id=sb.new_session(user_id),
                      session=sb.requests_session())


def token_call(sb: SalesforceSandbox, **form: str) -> requests.Response:
    return sb.requests_session().post(f"{sb.login_url}/services/oauth2/token", data=form)


def userinfo(sb: SalesforceSandbox, access_token: str) -> dict:
    return sb.requests_session().get(f"{sb.url}/services/oauth2/userinfo",
                                     headers={"Authorization": f"Bearer {access_token}"}).json()


def test_orgs_have_their_own_ids_users_and_records(sb: SalesforceSandbox) -> None:
    first, second = sb.org(), sb.add_org("Tenant Two")
    assert first.id == ORG_ID and second.id != ORG_ID and len(second.id) == 18 and second.id.startswith("00D")
    assert not set(first.users) & set(second.users)
    a, b = as_user(sb, USER_ID), as_user(sb, second.integration_user)
    made_a = a.Account.upsert("Zenskar_Id__c/1", {"Name": "Acme of A"})
    made_b = b.Account.upsert("Zenskar_Id__c/1", {"Name": "Acme of B"})  # the same external id, another org
    assert made_a == made_b == 201  # both created: neither org sees the other's Zenskar_Id__c
    id_a = a.Account.get_by_custom_id("Zenskar_Id__c", "1")["Id"]
    id_b = b.Account.get_by_custom_id("Zenskar_Id__c", "1")["Id"]
    assert id_a != id_b  # record ids never repeat across orgs
    assert [r["Name"] for r in a.query("SELECT Name FROM Account")["records"]] == ["Acme of A"]
    assert [r["Name"] for r in b.query("SELECT Name FROM Account")["records"]] == ["Acme of B"]
    with pytest.raises(SalesforceError):
        b.Account.get(id_a)
    assert b.Account.get(id_b)["CreatedById"] == second.integration_user
    assert (userinfo(sb, sb.new_session(second.sales_user))["organization_id"],
            userinfo(sb, sb.new_session())["organization_id"]) == (second.id, ORG_ID)


def test_logins_land_in_the_org_of_the_user_or_connected_app(sb: SalesforceSandbox) -> None:
    second = sb.add_org("beta", client_id="beta-app", client_secret="beta-secret")
    beta_user = second.users[second.integration_user]
    sb.require_credentials(username=beta_user, password="pw", security_token="TOK", org=second.id)
    token = token_call(sb, grant_type="password", username=beta_user, password="pwTOK").json()
    assert token["id"].endswith(f"/{second.id}/{second.integration_user}")
    assert userinfo(sb, token["access_token"])["organization_id"] == second.id
    assert token_call(sb, grant_type="password", username=beta_user, password="wrong").json()["error"] == \
        "invalid_grant"
    session_id, _ = SalesforceLogin(username=beta_user, password="pw", security_token="TOK",
                                    scratch_url=sb.login_url, session=sb.requests_session())
    assert session_id.startswith(second.id[:15]) and userinfo(sb, session_id)["organization_id"] == second.id
    by_app = token_call(sb, grant_type="client_credentials", client_id="beta-app", client_secret="beta-secret")
    assert userinfo(sb, by_app.json()["access_token"])["organization_id"] == second.id
    anyone = token_call(sb, grant_type="password", username="someone@else", password="x").json()
    assert userinfo(sb, anyone["access_token"])["organization_id"] == ORG_ID  # as every login did before orgs


def test_refresh_token_flow_and_revocation(sb: SalesforceSandbox) -> None:
    second = sb.add_org("gamma", client_id="gamma-app", client_secret="s3cret")
    refresh = sb.refresh_token(second.integration_user)
    answer = token_call(sb, grant_type="refresh_token", refresh_token=refresh, client_id="gamma-app",
                        client_secret="s3cret").json()
    assert answer["id"].endswith(f"/{second.id}/{second.integration_user}") and "refresh_token" in answer["scope"]
    sf = Salesforce(instance_url=answer["instance_url"], session_id=answer["access_token"],
                    session=sb.requests_session())
    sf.Account.create({"Name": "Refreshed"})
    assert sb.org(second.id).store.rows("Account")[0]["Name"] == "Refreshed"
    assert token_call(sb, grant_type="refresh_token", refresh_token=refresh, client_id="other-app").json()[
        "error"] == "invalid_client"
    revoked = sb.requests_session().post(f"{sb.login_url}/services/oauth2/revoke", data={"token": refresh})
    assert revoked.status_code == 200
    assert token_call(sb, grant_type="refresh_token", refresh_token=refresh, client_id="gamma-app",
                      client_secret="s3cret").json()["error"] == "invalid_grant"
    with pytest.raises(SalesforceError):  # the access token the revoked refresh token issued is gone too
        sf.Account.create({"Name": "After revocation"})


def test_each_org_has_its_own_api_allocation_and_outage(sb: SalesforceSandbox) -> None:
    second = sb.add_org("delta", daily_api_limit=3)
    a, b = as_user(sb, USER_ID), as_user(sb, second.integration_user)
    for _ in range(3):
        b.query("SELECT Id FROM Account")
    with pytest.raises(SalesforceError, match="REQUEST_LIMIT_EXCEEDED"):
        b.query("SELECT Id FROM Account")
    a.query("SELECT Id FROM Account")  # the first org's allocation is untouched
    assert (sb.org().allocation.used(), second.allocation.used()) == (1, 3)
    assert (b.api_usage["api-usage"].used, b.api_usage["api-usage"].total) == (3, 3)  # Sforce-Limit-Info
    assert a.limits()["DailyApiRequests"] == {"Max": 15000, "Remaining": 15000 - 2}
    http = sb.requests_session()
    assert http.post(f"{sb.url}/_sandbox/orgs/{second.id}", json={"daily_api_limit": 10}).json()[
        "daily_api_limit"] == 10
    assert http.post(f"{sb.url}/_sandbox/orgs/{second.id}", json={"down": True}).json()["down"] is True
    with pytest.raises(SalesforceError) as down:
        b.query("SELECT Id FROM Account")
    assert down.value.status == 503 and second.allocation.used() == 3  # refused, not counted
    a.Account.create({"Name": "Still served"})  # the other org is up
    assert token_call(sb, grant_type="password", username=second.users[second.integration_user],
                      password="x").status_code == 503
    http.post(f"{sb.url}/_sandbox/orgs/{second.id}", json={"down": False})
    assert b.query("SELECT COUNT() FROM Account")["totalSize"] == 0


def test_cursors_and_bulk_jobs_stay_in_their_org(sb: SalesforceSandbox) -> None:
    second = sb.add_org("epsilon")
    a, b = as_user(sb, USER_ID), as_user(sb, second.integration_user)
    a.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": accounts(200)})
    a.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": accounts(50, "y")})
    page = a.restful("query", params={"q": "SELECT Id FROM Account"}, headers={"Sforce-Query-Options": "batchSize=200"})
    assert (page["done"], len(page["records"])) == (False, 200)
    with pytest.raises(SalesforceError, match="INVALID_QUERY_LOCATOR"):
        b.query_more(page["nextRecordsUrl"], identifier_is_url=True)
    b.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": accounts(200)})
    b.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": accounts(1, "y")})
    for _ in range(12):  # more of the other org's queries than cursors are kept: they must not evict a's
        b.restful("query", params={"q": "SELECT Id FROM Account"}, headers={"Sforce-Query-Options": "batchSize=200"})
    assert len(a.query_more(page["nextRecordsUrl"], identifier_is_url=True)["records"]) == 50
    job = a.restful("jobs/ingest", method="POST", json={"object": "Account", "operation": "insert"})
    with pytest.raises(SalesforceError):
        b.restful(f"jobs/ingest/{job['id']}")
    assert [j["id"] for j in a.restful("jobs/ingest")["records"]] == [job["id"]]
    assert b.restful("jobs/ingest")["records"] == []


@pytest.fixture
def inbox(sqlite_url) -> Iterator[InboxStore]:
    engine = make_engine(sqlite_url)
    migrate.upgrade(engine)
    yield InboxStore(engine)
    engine.dispose()


def test_outbound_messages_go_per_org_to_that_orgs_endpoint(inbox: InboxStore) -> None:
    with SalesforceSandbox() as sandbox:
        second = sandbox.add_org("zeta")
        with Endpoint(inbox) as first_end, Endpoint(inbox, OutboundSettings(second.id, TOKEN)) as second_end:
            sandbox.outbound.configure({"*": first_end.url})
            answer = sandbox.requests_session().post(f"{sandbox.url}/_sandbox/outbound",
                                                     json={"org": second.id, "urls": {"Account": second_end.url}})
            assert answer.json()["urls"] == {"Account": second_end.url}
            sandbox.configure(outbound_base_delay=0.01, outbound_max_delay=0.05)
            as_user(sandbox, USER_ID).Account.create({"Name": "First's", "Zenskar_Id__c": "1"})
            as_user(sandbox, second.sales_user).Account.create({"Name": "Second's", "Zenskar_Id__c": "1"})
            wait_until(lambda: len(first_end.notifications()) == 1 and len(second_end.notifications()) == 1)
            wait_until(lambda: sandbox.outbound.status()["pending"] == 0 == second.outbound.status()["pending"])
            assert [m.organization_id for _, m in first_end.messages] == [ORG_ID]
            assert [m.organization_id for _, m in second_end.messages] == [second.id]
            assert [n.fields["Name"] for n in second_end.notifications()] == ["Second's"]
            assert set(first_end.statuses) == set(second_end.statuses) == {200}  # each endpoint's own org: Acked
            assert first_end.notifications()[0].id != second_end.notifications()[0].id


def test_orgs_made_over_http_survive_a_restart(tmp_path) -> None:
    data = str(tmp_path / "org.json")
    with SalesforceSandbox(data_file=data) as first:
        made = first.requests_session().post(f"{first.url}/_sandbox/orgs",
                                             json={"name": "eta", "daily_api_limit": 50}).json()
        assert made["organization_id"] != ORG_ID and made["daily_api_limit"] == 50
        listed = first.requests_session().get(f"{first.url}/_sandbox/orgs").json()["orgs"]
        assert [o["organization_id"] for o in listed] == [ORG_ID, made["organization_id"]]
        as_user(first, made["integration_user_id"]).Account.create({"Name": "Kept", "Zenskar_Id__c": "9"})
        assert first.requests_session().post(f"{first.url}/_sandbox/orgs", data="{bad").status_code == 400
    with SalesforceSandbox(data_file=data) as second:
        org = second.org(made["organization_id"])
        assert org.allocation.limit == 50 and org.allocation.used() == 1
        answer = token_call(second, grant_type="refresh_token", refresh_token=made["refresh_token"]).json()
        sf = Salesforce(instance_url=answer["instance_url"], session_id=answer["access_token"],
                        session=second.requests_session())
        assert [r["Name"] for r in sf.query("SELECT Name FROM Account")["records"]] == ["Kept"]
        assert as_user(second, USER_ID).query("SELECT COUNT() FROM Account")["totalSize"] == 0
