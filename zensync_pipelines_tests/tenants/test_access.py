"""Each tenant's resolved settings reach its own Stripe account and Salesforce org, and only those: two tenants
registered on SQLite and PostgreSQL, then the real stripe SDK and real simple-salesforce calls over HTTP(S) to the
sandboxes, with the settings `tenant_access.resolve` returns.

The Stripe sandbox is one platform: every `sk_test_` key acts in the platform's own account, so the tenant with
its own key lands there, and the Connect tenant in its connected account."""

import json

import pytest
import requests
import stripe
from cryptography.fernet import Fernet
from simple_salesforce import Salesforce

from zensync_pipelines.sandbox.salesforce import SalesforceSandbox
from zensync_pipelines.store import secrets
from zensync_pipelines.store.tenants import Tenant, TenantError, TenantStore
from zensync_pipelines.systems.salesforce.auth import OAUTH_REFRESH_TOKEN, SOAP, login
from zensync_pipelines.systems.tenant_access import resolve

PLATFORM_KEY, OWN_KEY = "sk_test_platform_key", "sk_test_tenant_two_own_key"
APP_ID, APP_SECRET = "zensync-connected-app", "app-Secret-value-9"
T2_PASSWORD, T2_TOKEN = "T2-Passw0rd-value", "T2SecTok"


@pytest.fixture
def salesforce():
    with SalesforceSandbox() as sb:
        yield sb


def stripe_client(access, base):
    return stripe.StripeClient(access.api_key, stripe_account=access.stripe_account, base_addresses={"api": base},
                               max_network_retries=0)


def salesforce_client(credentials, sb):
    http = sb.requests_session()
    session = login(credentials, http, "59.0")
    return Salesforce(instance_url=session.instance_url, session_id=session.token, session=http), session


def org_of(sb, session) -> str:
    return sb.requests_session().get(f"{sb.url}/services/oauth2/userinfo", headers={
        "Authorization": f"Bearer {session.token}"}).json()["organization_id"]


def test_each_tenant_reaches_its_own_stripe_account_and_salesforce_org_only(engine, stripe_sandbox, salesforce,
                                                                            tmp_path, monkeypatch):
    platform = stripe.StripeClient(PLATFORM_KEY, base_addresses={"api": stripe_sandbox.url})
    account = platform.v1.accounts.create({"type": "custom", "metadata": {"tenant": "t1"}}).id
    org1 = salesforce.add_org("one", client_id=APP_ID, client_secret=APP_SECRET)
    org2 = salesforce.add_org("two")
    user2 = org2.users[org2.integration_user]
    salesforce.require_credentials(username=user2, password=T2_PASSWORD, security_token=T2_TOKEN, org=org2.id)
    key = Fernet.generate_key().decode()
    secrets_file = tmp_path / "tenant-secrets.json"
    secrets_file.write_text(json.dumps({"t2_password": T2_PASSWORD}))
    for name, value in {"STRIPE_API_KEY": PLATFORM_KEY, "STRIPE_API_BASE": stripe_sandbox.url,
                        "SALESFORCE_CLIENT_ID": APP_ID, "SALESFORCE_CLIENT_SECRET": APP_SECRET,
                        "SALESFORCE_LOGIN_URL": salesforce.login_url, "T1_REFRESH_TOKEN":
                        salesforce.refresh_token(org1.integration_user), "T2_STRIPE_KEY": OWN_KEY,
                        secrets.KEY_VARIABLE: key}.items():
        monkeypatch.setenv(name, value)

    store = TenantStore(engine)
    # t1: a connected account with the platform's key; org one through the platform's connected app's refresh token.
    store.add(Tenant("t1", stripe_account=account, salesforce_org=org1.id[:15],
                     salesforce_refresh_token="env:T1_REFRESH_TOKEN"))
    # t2: its own Stripe key; org two by username, password (from a secrets file) and an encrypted security token.
    store.add(Tenant("t2", stripe_key="env:T2_STRIPE_KEY", salesforce_org=org2.id, salesforce_username=user2,
                     salesforce_password=f"file:{secrets_file}#t2_password",
                     salesforce_security_token=secrets.encrypt(T2_TOKEN)))
    one, two = (resolve(store.get(name)) for name in ("t1", "t2"))

    assert (one.stripe.api_key, one.stripe.stripe_account, two.stripe.api_key, two.stripe.stripe_account) == \
        (PLATFORM_KEY, account, OWN_KEY, None)
    assert (one.salesforce.login_flow(), two.salesforce.login_flow()) == (OAUTH_REFRESH_TOKEN, SOAP)
    for access in (one, two):
        shown = repr(access)
        assert not any(s in shown for s in (PLATFORM_KEY, OWN_KEY, T2_PASSWORD, T2_TOKEN, APP_SECRET))

    made = {t.tenant: stripe_client(t.stripe, stripe_sandbox.url).v1.customers.create(
        {"email": f"first@{t.tenant}.example", "metadata": {"zenskar_id": "1", "tenant": t.tenant}})
        for t in (one, two)}
    in_account = stripe.StripeClient(PLATFORM_KEY, stripe_account=account, base_addresses={"api": stripe_sandbox.url})
    assert [c.id for c in in_account.v1.customers.list().data] == [made["t1"].id]
    assert [c.id for c in platform.v1.customers.list().data] == [made["t2"].id]  # the own key's account

    for access, org in ((one, org1), (two, org2)):
        sf, session = salesforce_client(access.salesforce, salesforce)
        assert org_of(salesforce, session) == access.salesforce_org == org.id  # the registered org is the login's
        sf.Account.upsert("Zenskar_Id__c/1", {"Name": f"Customer 1 of {access.tenant}"})
    for org, tenant in ((org1, "t1"), (org2, "t2"), (salesforce.org(), None)):
        names = [row["Name"] for row in salesforce.org(org.id).store.rows("Account")]
        assert names == ([f"Customer 1 of {tenant}"] if tenant else [])

    # t2's key is revoked: its calls fail, t1's go on.
    requests.post(f"{stripe_sandbox.url}/_sandbox/keys", json={"key": OWN_KEY, "revoked": True},
                  headers={"Authorization": f"Bearer {PLATFORM_KEY}"}, timeout=10).raise_for_status()
    with pytest.raises(stripe.AuthenticationError):
        stripe_client(two.stripe, stripe_sandbox.url).v1.customers.list()
    assert len(stripe_client(one.stripe, stripe_sandbox.url).v1.customers.list().data) == 1

    store.disable("t2")
    with pytest.raises(TenantError, match="^tenant t2 is disabled"):
        resolve(store.get("t2"))


def test_resolving_names_the_tenant_and_field_never_a_value(engine, monkeypatch):
    store = TenantStore(engine)
    monkeypatch.delenv("STRIPE_API_KEY", raising=False)
    monkeypatch.delenv(secrets.KEY_VARIABLE, raising=False)
    store.add(Tenant("t1", stripe_account="acct_1One"))
    store.add(Tenant("t2", stripe_key="env:T2_MISSING_KEY"))
    store.add(Tenant("t3", salesforce_org="00D5g000000ZSBXEA4", salesforce_username="u@t3.example",
                     salesforce_password="enc:gAAAAABnot-a-real-token"))
    store.add(Tenant("t4", salesforce_org="00D5g00000000GAEAY", salesforce_username="u@t4.example"))
    cases = {"t1": "tenant t1: Stripe Connect uses the platform's key, and STRIPE_API_KEY is not set",
             "t2": "tenant t2: stripe_key: environment variable T2_MISSING_KEY is not set",
             "t3": "tenant t3: salesforce_password: ZENSYNC_SECRETS_KEY is not set",
             "t4": "tenant t4: its Salesforce settings allow no login"}
    for name, message in cases.items():
        with pytest.raises((secrets.SecretError, TenantError), match=message):
            resolve(store.get(name))
