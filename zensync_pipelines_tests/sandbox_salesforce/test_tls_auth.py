"""TLS is really verified, and every way of getting (and losing) a session behaves like Salesforce."""

from __future__ import annotations

import pytest
import requests
from simple_salesforce import Salesforce, SalesforceLogin
from simple_salesforce.exceptions import SalesforceAuthenticationFailed, SalesforceExpiredSession

from .conftest import client


def test_a_client_without_the_ca_file_is_refused(sb):
    session = requests.Session()
    session.trust_env = False  # the machine's REQUESTS_CA_BUNDLE must not decide this test
    with pytest.raises(requests.exceptions.SSLError):
        session.get(sb.url + "/services/data/v59.0/limits")


def test_the_certificate_names_both_loopback_identities(sb):
    from cryptography import x509

    with open(sb.ca_file, "rb") as handle:
        ca = x509.load_pem_x509_certificate(handle.read())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    session = sb.requests_session()
    for host in ("127.0.0.1", "localhost"):
        reply = session.get(f"https://{host}:{sb.port}/services/data/v59.0/limits")
        assert reply.status_code == 401  # TLS and host name accepted; no token yet


def test_oauth_password_and_client_credentials_grants(sb):
    session = sb.requests_session()
    for form in ({"grant_type": "password", "client_id": "c", "client_secret": "s", "username": "u", "password": "p"},
                 {"grant_type": "client_credentials", "client_id": "c", "client_secret": "s"}):
        token = session.post(sb.login_url + "/services/oauth2/token", data=form).json()
        assert set(token) >= {"access_token", "instance_url", "id", "token_type", "issued_at", "signature"}
        assert token["instance_url"] == sb.instance_url
        sf = Salesforce(instance_url=token["instance_url"], session_id=token["access_token"], session=session)
        assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0


def test_expected_credentials_are_enforced(sb):
    sb.require_credentials(username="ops@zen", password="pw", security_token="TOK", client_id="c", client_secret="s")
    session = sb.requests_session()
    url = sb.login_url + "/services/oauth2/token"
    good = {"grant_type": "password", "client_id": "c", "client_secret": "s", "username": "ops@zen",
            "password": "pwTOK"}
    assert session.post(url, data=good).status_code == 200
    wrong_password = session.post(url, data={**good, "password": "pw"})
    assert wrong_password.status_code == 400
    assert wrong_password.json() == {"error": "invalid_grant", "error_description": "authentication failure"}
    assert session.post(url, data={**good, "client_secret": "x"}).json()["error"] == "invalid_client"
    assert session.post(url, data={"grant_type": "authorization_code"}).json()["error"] == "unsupported_grant_type"


def test_soap_login_through_simple_salesforce(sb):
    sb.require_credentials(username="ops@zen", password="pw", security_token="TOK")
    session = sb.requests_session()
    session_id, instance = SalesforceLogin(username="ops@zen", password="pw", security_token="TOK",
                                           scratch_url=sb.login_url, session=session)
    sf = Salesforce(session_id=session_id, instance=instance, session=session)
    assert sf.Account.create({"Name": "Acme"})["success"] is True
    with pytest.raises(SalesforceAuthenticationFailed) as failure:
        SalesforceLogin(username="ops@zen", password="bad", security_token="TOK", scratch_url=sb.login_url,
                        session=session)
    assert failure.value.code == "INVALID_LOGIN"


def test_expired_sessions_answer_invalid_session_id(sb):
    sf = client(sb)
    sf.query("SELECT Id FROM Account")
    sb.expire_sessions()
    with pytest.raises(SalesforceExpiredSession) as expired:
        sf.query("SELECT Id FROM Account")
    assert expired.value.status == 401
    assert expired.value.content == [{"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"}]
    assert client(sb).query("SELECT COUNT() FROM Account")["totalSize"] == 0  # a new session works


def test_old_api_versions_are_not_served(sb):
    sf = client(sb, version="45.0")
    with pytest.raises(Exception) as missing:
        sf.query("SELECT Id FROM Account")
    assert missing.value.status == 404
