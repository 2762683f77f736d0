"""Every login flow against the sandbox, re-authentication when a session expires mid-run, and failed logins."""

import pytest

from zensync_pipelines.systems.salesforce import SalesforceAdapter, SalesforceAuthError
from zensync_pipelines.systems.salesforce.auth import login

from .conftest import catalog_rows, resource_for, run_engine, seeded, valid_ids

USER, PASSWORD, TOKEN = "sync@zenskar.test", "Pw-0f-the-sync-user", "SecTok42"
CLIENT_ID, CLIENT_SECRET = "3MVG9zensync", "client-S3cret-value"
SOAP_LOGIN, OAUTH_TOKEN = "POST /services/Soap/u/{version}", "POST /services/oauth2/token"

FLOWS = {
    "soap": ({"username": USER, "password": PASSWORD, "security_token": TOKEN}, SOAP_LOGIN),
    "oauth_password": ({"username": USER, "password": PASSWORD, "security_token": TOKEN, "client_id": CLIENT_ID,
                        "client_secret": CLIENT_SECRET}, OAUTH_TOKEN),
    "oauth_client_credentials": ({"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}, OAUTH_TOKEN),
}


def strict(sb):
    """From now on the sandbox accepts only these credentials, like a real org."""
    sb.require_credentials(username=USER, password=PASSWORD, security_token=TOKEN, client_id=CLIENT_ID,
                           client_secret=CLIENT_SECRET)


def only(settings):
    """Resource settings with exactly these credentials (the fixture's default client credentials removed)."""
    return {"client_id": None, "client_secret": None} | settings


class ExpireBeforeSecondBatch:
    """Runs the real adapter, expiring every session between the Account and the Contact batches."""

    def __init__(self, adapter: SalesforceAdapter, sb):
        self.adapter, self.sb, self.applied = adapter, sb, 0
        self.name, self.batch_size = adapter.name, adapter.batch_size

    @property
    def api_calls(self):
        return self.adapter.api_calls

    def apply(self, operations):
        if self.applied == 1:
            self.sb.expire_sessions()
        self.applied += 1
        return self.adapter.apply(operations)


@pytest.mark.parametrize("flow", sorted(FLOWS))
def test_each_credentials_flow_logs_in_and_syncs(sqlite_url, sb, flow):
    engine = seeded(sqlite_url, 20)
    accounts, contacts = valid_ids(catalog_rows(engine))
    strict(sb)
    settings, login_route = FLOWS[flow]

    report = run_engine(engine, resource_for(sb, **only(settings)).adapter())

    assert report.created == len(accounts) + len(contacts)
    counters = sb.counters.snapshot()
    assert counters[login_route] == 1 and counters.get(SOAP_LOGIN if login_route == OAUTH_TOKEN else OAUTH_TOKEN) \
        is None
    engine.dispose()


def test_the_refresh_token_flow_syncs_into_the_org_the_token_was_issued_for(sqlite_url, sb):
    """A multi-org integration's login: the connected app's refresh token for one org (docs/tenants.md)."""
    engine = seeded(sqlite_url, 20)
    accounts, contacts = valid_ids(catalog_rows(engine))
    org = sb.add_org("refreshed", client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    settings = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                "refresh_token": sb.refresh_token(org.integration_user)}

    report = run_engine(engine, resource_for(sb, **only(settings)).adapter())

    assert report.created == len(accounts) + len(contacts)
    assert len(org.store.rows("Account")) == len(accounts) and sb.org().store.rows("Account") == []
    assert sb.counters.snapshot()[OAUTH_TOKEN] == 1
    wrong_app = resource_for(sb, **only(settings | {"client_secret": "another-" + CLIENT_SECRET})).credentials()
    with pytest.raises(SalesforceAuthError, match="invalid_client") as failed:
        login(wrong_app, sb.requests_session(), "59.0")
    assert settings["refresh_token"] not in str(failed.value) and CLIENT_SECRET not in str(failed.value)
    engine.dispose()


def test_an_existing_session_id_is_used_without_logging_in(sqlite_url, sb):
    engine = seeded(sqlite_url, 20)
    accounts, contacts = valid_ids(catalog_rows(engine))
    strict(sb)
    adapter = resource_for(sb, **only({"session_id": sb.new_session(), "instance_url": sb.instance_url})).adapter()

    report = run_engine(engine, adapter)

    assert report.created == len(accounts) + len(contacts)
    assert SOAP_LOGIN not in sb.counters.snapshot() and OAUTH_TOKEN not in sb.counters.snapshot()
    engine.dispose()


@pytest.mark.parametrize("flow", sorted(FLOWS) + ["session_with_credentials"])
def test_a_session_expiring_mid_run_is_renewed_once_and_the_run_succeeds(sqlite_url, sb, flow):
    engine = seeded(sqlite_url, 20)
    accounts, contacts = valid_ids(catalog_rows(engine))
    strict(sb)
    if flow == "session_with_credentials":
        settings = FLOWS["oauth_client_credentials"][0] | {"session_id": sb.new_session(),
                                                           "instance_url": sb.instance_url}
        logins_expected, login_route = 1, OAUTH_TOKEN  # only the renewal logs in
    else:
        (settings, login_route), logins_expected = FLOWS[flow], 2
    adapter = ExpireBeforeSecondBatch(resource_for(sb, **only(settings)).adapter(), sb)

    report = run_engine(engine, adapter)

    assert adapter.applied == 2
    assert (report.created, report.stopped_reason) == (len(accounts) + len(contacts), None)
    assert sb.counters.snapshot()[login_route] == logins_expected
    engine.dispose()


def test_an_expired_session_without_credentials_fails_the_run_without_showing_the_token(sqlite_url, sb):
    engine = seeded(sqlite_url, 20)
    session_id = sb.new_session()
    adapter = ExpireBeforeSecondBatch(
        resource_for(sb, **only({"session_id": session_id, "instance_url": sb.instance_url})).adapter(), sb)

    report = run_engine(engine, adapter)
    assert "no credentials are configured to renew it" in report.outage  # the run fails, loudly
    assert session_id not in report.outage and report.created > 0  # the first batch is kept
    engine.dispose()


@pytest.mark.parametrize("flow, code", [("soap", "INVALID_LOGIN"), ("oauth_password", "invalid_grant"),
                                        ("oauth_client_credentials", "invalid_client")])
def test_a_failed_login_names_the_reason_but_no_secret(sqlite_url, sb, flow, code):
    engine = seeded(sqlite_url, 20)
    strict(sb)
    wrong = {"client_secret": "wrong-client-S3cret"} if flow == "oauth_client_credentials" else \
        {"password": "Wrong-Pa55word"}
    settings = {k: wrong.get(k, v) for k, v in FLOWS[flow][0].items()}

    report = run_engine(engine, resource_for(sb, **only(settings)).adapter())
    message = report.outage
    assert message.startswith("Salesforce login failed") and code in message and sb.login_url in message
    assert "{content}" not in message
    if flow == "soap":  # the server's own words, not simple-salesforce's unfilled template
        assert "Invalid username, password" in message
    assert report.api_calls == 1 and report.created == 0  # one login, then the breaker: no write tried
    for secret in (*wrong.values(), TOKEN, CLIENT_SECRET, PASSWORD):
        assert secret not in message
    engine.dispose()


def test_missing_settings_are_named_before_any_request(sb):
    with pytest.raises(SalesforceAuthError, match="SALESFORCE_CLIENT_SECRET") as failed:
        resource_for(sb, client_secret=None, username=None).adapter()
    assert "client_secret" not in str(failed.value)  # the variable a user sets, not the resource field
    with pytest.raises(SalesforceAuthError, match="SALESFORCE_SESSION_ID and SALESFORCE_INSTANCE_URL"):
        resource_for(sb, **only({})).adapter()
    assert sb.counters.total() == 0
