"""The tenant registry on SQLite and PostgreSQL: ids, statuses, one tenant per Stripe account and per Salesforce
org, removal that keeps a tenant's mappings unless told to forget them, and key rotation in one transaction."""

import datetime as dt
from dataclasses import replace

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import func, inspect, select, text, update

from zensync_pipelines.store import secrets
from zensync_pipelines.store.state import StateStore
from zensync_pipelines.store.tables import mappings, state, tenants
from zensync_pipelines.store.tenant_fields import SALESFORCE_FLOWS
from zensync_pipelines.store.tenants import Tenant, TenantError, TenantStore, UnknownTenant
from zensync_pipelines.systems.salesforce.auth import FLOWS

ORG_A, ORG_B = "00D5g000000ZSBXEA4", "00D7x000001AbCdEAK"


@pytest.fixture
def store(engine) -> TenantStore:
    return TenantStore(engine)


def test_tenants_are_added_read_listed_changed_disabled_and_enabled(store):
    added = store.add(Tenant("acme", name="Acme", stripe_account="acct_1Acme", salesforce_org=ORG_A[:15],
                             salesforce_refresh_token="env:ACME_REFRESH", salesforce_auth_flow="oauth_refresh_token"))
    store.add(Tenant("beta-2", stripe_key="env:BETA_STRIPE_KEY"))
    assert added.salesforce_org == ORG_A  # the 15-character id is kept in its 18-character form
    got = store.get("acme")
    assert (got.status, got.stripe_account, got.salesforce_org, got.stripe_connect) == ("active", "acct_1Acme",
                                                                                       ORG_A, True)
    assert got.salesforce_refresh_token == "env:ACME_REFRESH" and "ACME_REFRESH" not in repr(got)
    assert [t.id for t in store.list()] == ["acme", "beta-2"] and not store.get("beta-2").stripe_connect
    store.disable("beta-2")
    assert [t.id for t in store.list("disabled")] == ["beta-2"] and [t.id for t in store.list("active")] == ["acme"]
    store.enable("beta-2")
    changed = store.update("acme", name="Acme Inc", stripe_account="acct_2Acme")
    assert store.get("acme") == replace(changed, created_at=store.get("acme").created_at,
                                        updated_at=store.get("acme").updated_at)
    assert store.get("acme").name == "Acme Inc" and store.by_stripe_account("acct_2Acme").id == "acme"
    assert store.by_salesforce_org(ORG_A[:15]).id == store.by_salesforce_org(ORG_A).id == "acme"
    assert store.by_stripe_account("acct_1Acme") is None and store.by_salesforce_org("00D5g000000ZSBY") is None
    assert store.by_salesforce_org("not an org") is None
    with pytest.raises(TenantError, match="cannot change created_at"):
        store.update("acme", created_at=dt.datetime.now(dt.timezone.utc))


def test_one_tenant_per_stripe_account_and_per_salesforce_org(store):
    store.add(Tenant("t1", stripe_account="acct_1One", salesforce_org=ORG_A))
    with pytest.raises(TenantError, match="^tenant t2: Stripe account acct_1One already belongs to tenant t1$"):
        store.add(Tenant("t2", stripe_account="acct_1One"))
    with pytest.raises(TenantError, match=f"^tenant t2: Salesforce org {ORG_A} already belongs to tenant t1$"):
        store.add(Tenant("t2", salesforce_org=ORG_A[:15]))  # the same org, given by its 15-character id
    with pytest.raises(TenantError, match="^tenant t1 is already registered$"):
        store.add(Tenant("t1"))
    store.add(Tenant("t2", stripe_account="acct_2Two", salesforce_org=ORG_B, stripe_key="env:T2_KEY"))
    with pytest.raises(TenantError, match="^tenant t3: Stripe key env:T2_KEY already belongs to tenant t2$"):
        store.add(Tenant("t3", stripe_key="env:T2_KEY"))  # one key, one account
    with pytest.raises(TenantError, match="already belongs to tenant t1"):
        store.update("t2", stripe_account="acct_1One")
    assert store.get("t2").stripe_account == "acct_2Two"


def test_a_concurrent_writer_that_wins_the_race_still_gets_a_line_naming_the_other_tenant(store, monkeypatch):
    """The check and the insert are two statements; the unique constraint catches a writer that got in between."""
    store.add(Tenant("t1", stripe_account="acct_1One"))
    checks = []
    real = TenantStore._refuse_taken

    def late(connection, tenant):  # the first check runs before the other writer committed: it sees nothing
        checks.append(tenant.id)
        if len(checks) > 1:
            real(connection, tenant)

    monkeypatch.setattr(TenantStore, "_refuse_taken", staticmethod(late))
    with pytest.raises(TenantError, match="^tenant t2: Stripe account acct_1One already belongs to tenant t1$"):
        store.add(Tenant("t2", stripe_account="acct_1One"))
    assert checks == ["t2", "t2"] and [t.id for t in store.list()] == ["t1"]


@pytest.mark.parametrize("tenant, reason", [
    (Tenant("Acme"), "tenant id 'Acme': use 1-63 lowercase"),
    (Tenant("a" * 64), "use 1-63"),
    (Tenant("-acme"), "starting and ending"),
    (Tenant("default"), "reserved for the rows of a deployment without tenants"),
    (Tenant("t1", status="paused"), "status 'paused' is not active or disabled"),
    (Tenant("t1", stripe_account="cus_123"), "stripe_account 'cus_123' is not a Stripe account id"),
    (Tenant("t1", salesforce_org="001000000000001"), "is not an org id"),
    (Tenant("t1", salesforce_org="00D5g000000ZSBXAAA"), "wrong checksum.*is 00D5g000000ZSBXEA4"),
    (Tenant("t1", salesforce_username="bob@acme.example"), "Salesforce settings need the org id"),
    (Tenant("t1", salesforce_org=ORG_A, salesforce_auth_flow="magic"), "salesforce_auth_flow 'magic'"),
    (Tenant("t1", salesforce_org=ORG_A, salesforce_auth_flow="oauth_refresh_token"), "needs salesforce_refresh"),
])
def test_bad_input_is_one_line_naming_the_field_and_reason(store, tenant, reason):
    with pytest.raises(TenantError, match=reason) as error:
        store.add(tenant)
    assert "\n" not in str(error.value)
    assert store.list() == []


def test_the_registry_offers_exactly_the_login_flows_salesforce_auth_knows():
    assert set(SALESFORCE_FLOWS) == set(FLOWS)


def test_unknown_tenants_are_named(store):
    for call in (lambda: store.get("ghost"), lambda: store.disable("ghost"), lambda: store.remove("ghost")):
        with pytest.raises(UnknownTenant, match="no tenant 'ghost' is registered"):
            call()


def _mapping_tenant_column(engine) -> None:
    """The mappings' tenant column (issue 25's scoping branch adds it); here added when it is not there yet."""
    with engine.begin() as connection:
        if "tenant" not in {c["name"] for c in inspect(connection).get_columns(mappings.name)}:
            connection.execute(text(f"ALTER TABLE {mappings.name} ADD COLUMN tenant VARCHAR(100) NOT NULL "
                                    f"DEFAULT 'default'"))


def _mapping(engine, tenant: str, internal_id: str) -> None:
    now = dt.datetime.now(dt.timezone.utc)
    with engine.begin() as connection:
        connection.execute(mappings.insert().values(catalog="customers", internal_id=internal_id, system="stripe",
                                                    object_type="customer", status="synced", created_at=now,
                                                    updated_at=now))
        connection.execute(text(f"UPDATE {mappings.name} SET tenant = :tenant WHERE internal_id = :id"),
                           {"tenant": tenant, "id": internal_id})


def test_remove_keeps_a_tenant_with_mappings_unless_told_to_forget_them(engine, store):
    for name in ("t1", "t2"):
        store.add(Tenant(name))
        StateStore(engine, tenant=name).put("stripe", "cursor", {"at": 1})
    StateStore(engine).put("stripe", "cursor", {"at": 0})  # the deployment's own, tenant "default"
    _mapping_tenant_column(engine)
    _mapping(engine, "t1", "1")
    _mapping(engine, "t2", "2")  # another id: before the scoping branch, the mappings' key has no tenant
    with pytest.raises(TenantError, match="^tenant t1 has 1 mappings .*: remove it with --forget"):
        store.remove("t1")
    assert store.get("t1") and StateStore(engine, tenant="t1").get("stripe", "cursor") == {"at": 1}
    assert store.remove("t1", forget=True) == {mappings.name: 1, state.name: 1}
    with engine.connect() as connection:
        left = connection.execute(select(mappings.c.internal_id, text("tenant")).select_from(mappings)).all()
        assert [tuple(r) for r in left] == [("2", "t2")]
        assert connection.execute(select(func.count()).select_from(state)).scalar() == 2
    assert [t.id for t in store.list()] == ["t2"]
    with engine.begin() as connection:
        connection.execute(text(f"DELETE FROM {mappings.name}"))
    assert store.remove("t2") == {state.name: 1}  # no mappings left: removed without --forget
    assert StateStore(engine).get("stripe", "cursor") == {"at": 0}


def test_rekey_reencrypts_every_secret_in_one_transaction(store, engine, monkeypatch):
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    monkeypatch.setenv(secrets.KEY_VARIABLE, old)
    store.add(Tenant("t1", stripe_key=secrets.encrypt("sk_test_one"), salesforce_org=ORG_A,
                     salesforce_password=secrets.encrypt("pw-one"), salesforce_security_token="env:T1_TOKEN"))
    store.add(Tenant("t2", stripe_key=secrets.encrypt("sk_test_two")))
    before = {t.id: t for t in store.list()}
    monkeypatch.setenv(secrets.KEY_VARIABLE, new)
    monkeypatch.setenv(secrets.OLD_KEY_VARIABLE, Fernet.generate_key().decode())  # the wrong old key
    with pytest.raises(secrets.SecretError, match="^tenant t1: stripe_key: neither the new nor the old key"):
        store.rekey(secrets.keys())
    assert {t.id: t for t in store.list()} == before  # nothing was re-encrypted
    monkeypatch.setenv(secrets.OLD_KEY_VARIABLE, old)
    assert store.rekey(secrets.keys()) == 3
    monkeypatch.delenv(secrets.OLD_KEY_VARIABLE)
    after = store.get("t1")
    assert after.stripe_key != before["t1"].stripe_key and after.salesforce_security_token == "env:T1_TOKEN"
    assert secrets.resolve(after.stripe_key) == "sk_test_one" and secrets.resolve(after.salesforce_password) == \
        "pw-one" and secrets.resolve(store.get("t2").stripe_key) == "sk_test_two"
    with engine.connect() as connection:  # nothing in clear text in the table
        stored = " ".join(str(v) for row in connection.execute(select(tenants)) for v in row)
    assert not any(value in stored for value in ("sk_test_one", "sk_test_two", "pw-one"))
    with engine.begin() as connection:  # a value no key decrypts, on the second tenant: the first stays as it was
        connection.execute(update(tenants).where(tenants.c.id == "t2").values(
            stripe_key=secrets.encrypt("x", {secrets.KEY_VARIABLE: Fernet.generate_key().decode()})))
    with pytest.raises(secrets.SecretError, match="^tenant t2: stripe_key"):
        store.rekey(secrets.keys({secrets.KEY_VARIABLE: Fernet.generate_key().decode(),
                                  secrets.OLD_KEY_VARIABLE: new}))
    assert store.get("t1").stripe_key == after.stripe_key
