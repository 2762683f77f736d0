"""A tenant's Dagster run reaches that tenant's own Stripe account and Salesforce org, never the deployment's: two
tenants registered in the registry (SQLite and PostgreSQL) with the same customer ids, each on its own connected
account of the Stripe sandbox and its own org of the Salesforce sandbox, synced by tagged runs of the shipped jobs
with the real SDKs over HTTP(S), also as the change sensor requests them. A revoked tenant fails only its own run;
an unknown, disabled or mislaned run fails at once, before any call, with one line; no secret reaches the run's logs
or metadata."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os

import pytest
import requests
import stripe
from dagster import DagsterInstance, DagsterRunStatus, Definitions
from sqlalchemy import Column, MetaData, String, Table

from zensync_pipelines.catalogs.customers import SPEC as CUSTOMERS
from zensync_pipelines.dagster_defs.factory import build_catalog_definitions, job_name
from zensync_pipelines.dagster_defs.resources import CatalogDatabase
from zensync_pipelines.dagster_defs.scope import copy_tags, tenant_tags
from zensync_pipelines.dagster_defs.tenant_systems import LANE_TAG, lane_tags
from zensync_pipelines.demo.tables import customers
from zensync_pipelines.sandbox.salesforce import SalesforceSandbox
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines.store.state import ApiUsageMemory, StateStore
from zensync_pipelines.store.tenants import Tenant, TenantStore
from zensync_pipelines.systems.salesforce import SalesforceResource
from zensync_pipelines.systems.stripe import StripeResource

PLATFORM_KEY = "sk_test_platform_runs_key"
APP_ID, APP_SECRET = "tenant-connected-app", "app-Secret-value-7"
T2_PASSWORD, T2_TOKEN = "T2-Passw0rd-runs", "T2RunTok"
SECRETS = (PLATFORM_KEY, APP_SECRET, T2_PASSWORD, T2_TOKEN)
SPEC = dataclasses.replace(CUSTOMERS, table="tenant_customers", tenant_column="tenant_id")
NOW = dt.datetime(2026, 3, 1, tzinfo=dt.timezone.utc)
ROWS = {"t1": [1, 2, 3], "t2": [1, 2]}  # the same ids in both tenants


def _row(tenant: str, i: int) -> dict:
    return {"tenant_id": tenant, "id": i, "name": f"{tenant.upper()} customer {i}", "email": f"{i}@{tenant}.example",
            "currency": "usd", "created_at": NOW, "updated_at": NOW + dt.timedelta(seconds=i)}


@dataclasses.dataclass
class World:
    engine: object
    defs: Definitions
    stripe_url: str
    sb: SalesforceSandbox
    accounts: dict
    orgs: dict
    instance: DagsterInstance

    def run(self, tenant: str, system: str, tags: dict | None = None):
        job = self.defs.resolve_job_def(job_name(SPEC, system))
        tags = tenant_tags(tenant) | lane_tags(tenant, system) if tags is None else tags
        return job.execute_in_process(instance=self.instance, tags=tags, raise_on_error=False)

    def stripe_names(self, account: str | None) -> dict:
        client = stripe.StripeClient(PLATFORM_KEY, stripe_account=account, base_addresses={"api": self.stripe_url})
        return {c.metadata["zenskar_id"]: c.name for c in client.v1.customers.list({"limit": 100}).data}

    def account_names(self, org_id: str | None) -> dict:
        return {r["Zenskar_Id__c"]: r["Name"] for r in self.sb.org(org_id).store.rows("Account")}


@pytest.fixture
def world(engine, database_url, stripe_sandbox, monkeypatch):
    table = Table("tenant_customers", MetaData(), Column("tenant_id", String(50), primary_key=True),
                  *(Column(c.name, c.type, primary_key=c.primary_key, nullable=c.nullable) for c in customers.c
                    if c.name != "tenant_id"))
    table.metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(table.insert(), [_row(t, i) for t, ids in ROWS.items() for i in ids])
    platform = stripe.StripeClient(PLATFORM_KEY, base_addresses={"api": stripe_sandbox.url})
    accounts = {t: platform.v1.accounts.create({"type": "custom"}).id for t in ROWS}
    with SalesforceSandbox() as sb:
        org1 = sb.add_org("one", client_id=APP_ID, client_secret=APP_SECRET)
        org2 = sb.add_org("two")
        user2 = org2.users[org2.integration_user]
        sb.require_credentials(username=user2, password=T2_PASSWORD, security_token=T2_TOKEN, org=org2.id)
        for name, value in {"STRIPE_API_KEY": PLATFORM_KEY, "SALESFORCE_CLIENT_ID": APP_ID,
                            "SALESFORCE_CLIENT_SECRET": APP_SECRET, "T1_SF_REFRESH": sb.refresh_token(
                                org1.integration_user), "T2_SF_PASSWORD": T2_PASSWORD,
                            "T2_SF_TOKEN": T2_TOKEN}.items():
            monkeypatch.setenv(name, value)
        store = TenantStore(engine)
        # t1: refresh token of the platform's connected app; t2: username, password and security token (SOAP).
        store.add(Tenant("t1", stripe_account=accounts["t1"], salesforce_org=org1.id, salesforce_login_url=sb.login_url,
                         salesforce_refresh_token="env:T1_SF_REFRESH"))
        store.add(Tenant("t2", stripe_account=accounts["t2"], salesforce_org=org2.id, salesforce_login_url=sb.login_url,
                         salesforce_username=user2, salesforce_password="env:T2_SF_PASSWORD",
                         salesforce_security_token="env:T2_SF_TOKEN", salesforce_auth_flow="soap"))
        # The deployment's own settings: the platform's account and the sandbox's first org, which no tenant's
        # run may touch.
        resources = {"catalog_db": CatalogDatabase(url=database_url),
                     "stripe": StripeResource(api_key=PLATFORM_KEY, api_base=stripe_sandbox.url,
                                              rate_limit_per_second=500, max_network_retries=0),
                     "salesforce": SalesforceResource(login_url=sb.login_url, client_id="zensync-app",
                                                      client_secret="app-secret", ca_bundle=sb.ca_file,
                                                      retry_base_seconds=0.002, retry_max_seconds=0.02,
                                                      bulk_poll_seconds=0.02)}
        defs = Definitions.merge(build_catalog_definitions(SPEC), Definitions(resources=resources))
        with DagsterInstance.ephemeral() as instance:
            yield World(engine, defs, stripe_sandbox.url, sb, accounts, {"t1": org1.id, "t2": org2.id}, instance)


def _expected(tenant: str) -> dict:
    return {str(i): f"{tenant.upper()} customer {i}" for i in ROWS[tenant]}


def _logs(world: World, run_id: str) -> str:
    return "\n".join(str(record) for record in world.instance.all_logs(run_id))


def test_each_tenants_runs_land_in_its_own_account_and_org_only(world):
    for tenant in ROWS:
        for system in ("stripe", "salesforce"):
            result = world.run(tenant, system)
            assert result.success, system
            logs = _logs(world, result.run_id)
            assert f"for tenant {tenant}" in logs
            assert not any(secret in logs for secret in SECRETS)  # logs, metadata, tags
    for tenant in ROWS:
        assert world.stripe_names(world.accounts[tenant]) == _expected(tenant)
        assert world.account_names(world.orgs[tenant]) == _expected(tenant)
        assert {r["internal_id"] for r in MappingStore(world.engine, tenant).rows("customers", "stripe")} == \
            set(_expected(tenant))
    assert world.stripe_names(None) == {}  # the platform's own account
    assert world.account_names(None) == {}  # the deployment's own org
    [run] = [r for r in world.instance.get_run_records() if r.dagster_run.tags.get("zensync/tenant") == "t2"
             and r.dagster_run.job_name == job_name(SPEC, "stripe")]
    assert run.dagster_run.tags[LANE_TAG] == "t2:stripe"


def test_a_revoked_tenant_fails_only_its_own_runs(world):
    # t2's connected account deauthorises the platform; t1's refresh token is revoked in its org.
    requests.post(f"{world.stripe_url}/_sandbox/accounts/{world.accounts['t2']}", json={"revoked": True},
                  headers={"Authorization": f"Bearer {PLATFORM_KEY}"}, timeout=10).raise_for_status()
    world.sb.requests_session().post(f"{world.sb.url}/services/oauth2/revoke",
                                     data={"token": os.environ["T1_SF_REFRESH"]}).raise_for_status()
    outcomes = {(t, s): world.run(t, s).success for t in ROWS for s in ("stripe", "salesforce")}
    assert outcomes == {("t1", "stripe"): True, ("t1", "salesforce"): False,
                        ("t2", "stripe"): False, ("t2", "salesforce"): True}
    assert world.stripe_names(world.accounts["t1"]) == _expected("t1")
    assert world.account_names(world.orgs["t2"]) == _expected("t2")
    assert world.account_names(world.orgs["t1"]) == {} and world.account_names(None) == {}
    assert world.stripe_names(None) == {}


def test_an_unknown_disabled_or_mislaned_run_fails_at_once_without_a_call(world, monkeypatch):
    built = []
    monkeypatch.setattr(StripeResource, "adapter_for", lambda *args: built.append(args))
    monkeypatch.setattr(StripeResource, "adapter", lambda *args: built.append(args))
    TenantStore(world.engine).disable("t2")
    cases = {"t9": "stripe: no tenant 't9' is registered (zensync tenants list)",
             "t2": "stripe: tenant t2 is disabled: enable it first (zensync tenants enable)"}
    for tenant, message in cases.items():
        result = world.run(tenant, "stripe")
        assert not result.success
        [failure] = [e for e in result.all_events if e.is_step_failure]
        assert failure.step_failure_data.error.message.strip().endswith(message)
    # t1's run put in the default tenant's lane (the job's own tag) would share that lane's turn unseen.
    result = world.run("t1", "stripe", tenant_tags("t1"))
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert "goes in lane t1:stripe" in failure.step_failure_data.error.message
    assert built == []  # no adapter, so no call
    assert world.stripe_names(world.accounts["t1"]) == {} and world.stripe_names(None) == {}


def test_a_tenants_spent_salesforce_budget_holds_back_its_own_runs_only(world):
    """The budget memory is the tenant's (zensync_state under its tenant): t1's spent share costs t1's org no call
    at all, while t2's run syncs and remembers t2's org's usage under t2, never under the default tenant."""
    now = dt.datetime.now(dt.timezone.utc)
    ApiUsageMemory(StateStore(world.engine, "t1"), "salesforce").save(
        {"used": 1000, "limit": 1000, "observed_at": now.isoformat(), "resumes_at": None})
    org1 = world.sb.org(world.orgs["t1"])
    before = org1.allocation.used()
    first, second = world.run("t1", "salesforce"), world.run("t2", "salesforce")
    assert second.success
    assert org1.allocation.used() == before and world.account_names(world.orgs["t1"]) == {}
    stopped = [e for e in first.get_asset_materialization_events()]
    assert stopped and all(e.materialization.metadata["created"].value == 0 for e in stopped)
    assert "stopped_reason" in stopped[-1].materialization.metadata
    assert world.account_names(world.orgs["t2"]) == _expected("t2")
    assert ApiUsageMemory(StateStore(world.engine, "t2"), "salesforce").load()["used"] > 0
    assert ApiUsageMemory(StateStore(world.engine), "salesforce").load() is None


def test_the_commands_reach_a_tenant_through_the_registry_and_its_lane(sqlite_url, tmp_path, monkeypatch):
    """`zensync plan --tenant` reads with the tenant's settings (an unknown tenant is one line, no call), and
    `zensync sync --tenant --in-process`, which runs in its own process past the run queue, waits its turn in the
    lane: a run in progress there makes it stop with one line naming that run."""
    import shutil

    from click.testing import CliRunner

    from zensync_pipelines.cli import main
    from zensync_pipelines.cli.dev import INSTANCE_YAML
    from zensync_pipelines.definitions import defs

    for name, value in {"ZENSYNC_DATABASE_URL": sqlite_url, "ZENSYNC_DATA_DIR": str(tmp_path),
                        "DAGSTER_HOME": str(tmp_path), "STRIPE_API_KEY": PLATFORM_KEY,
                        "STRIPE_API_BASE": "http://127.0.0.1:9"}.items():  # nothing listens: no call may be made
        monkeypatch.setenv(name, value)
    shutil.copy(INSTANCE_YAML, tmp_path / "dagster.yaml")
    runner = CliRunner()
    unknown = runner.invoke(main, ["plan", "customers", "stripe", "--tenant", "t9"])
    assert unknown.exit_code == 1
    assert unknown.output.strip() == "Error: stripe: no tenant 't9' is registered (zensync tenants list)"
    job = defs.resolve_job_def(job_name(CUSTOMERS, "stripe"))
    with DagsterInstance.from_config(str(tmp_path)) as instance:
        busy = instance.create_run_for_job(job, tags=tenant_tags("t1") | copy_tags(CUSTOMERS, "stripe", "t1")
                                           | lane_tags("t1", "stripe"), status=DagsterRunStatus.STARTED)
    refused = runner.invoke(main, ["sync", "customers", "stripe", "--tenant", "t1", "--in-process"])
    assert refused.exit_code == 1
    assert refused.output.strip() == f"Error: t1:customers.stripe is busy: run {busy.run_id} (sync_customers_stripe) " \
                                     f"is in progress; run again when it ends"


    # A deployment without an org of its own: the default tenant's commands say what to set, a tenant's use its
    # registry entry (here a refresh token; the plan reads nothing, as no row is mapped yet).
    from zensync_pipelines.demo.seed import seed_customers
    from zensync_pipelines.store.db import make_engine
    from zensync_pipelines.systems.salesforce.resource import ENVIRONMENT

    for variable in ENVIRONMENT.values():
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("T1_SF_REFRESH", "a-refresh-token")
    engine = make_engine(sqlite_url)
    seed_customers(engine, 3)
    TenantStore(engine).add(Tenant("t1", salesforce_org="00D5g000000ZSBX", salesforce_client_id="app",
                                   salesforce_login_url="https://127.0.0.1:9",
                                   salesforce_refresh_token="env:T1_SF_REFRESH"))
    engine.dispose()
    unconfigured = runner.invoke(main, ["plan", "customers", "salesforce"])
    assert unconfigured.exit_code == 2 and "salesforce is not configured here" in unconfigured.output
    tenant_plan = runner.invoke(main, ["plan", "customers", "salesforce", "--tenant", "t1"])
    assert tenant_plan.exit_code == 0, tenant_plan.output
    assert "create" in tenant_plan.output and "cannot be read" not in tenant_plan.output


def test_a_tenants_inbound_run_reads_with_its_own_settings(world, monkeypatch):
    """The inbound jobs build their fetchers the same way: a registered tenant's run builds its adapters from its
    own settings, never from the deployment's (which would raise here); an unknown tenant's fails before any call."""
    used = []
    for resource in (StripeResource, SalesforceResource):
        tenant_adapter = resource.adapter_for
        monkeypatch.setattr(resource, "adapter", lambda self: pytest.fail("the deployment's settings were used"))
        monkeypatch.setattr(resource, "adapter_for", lambda self, *args, build=tenant_adapter: used.append(
            type(self).__name__) or build(self, *args))
    for system in ("stripe", "salesforce"):
        job = world.defs.resolve_job_def(f"inbound_customers_{system}")
        mine = job.execute_in_process(instance=world.instance, tags=tenant_tags("t1"), raise_on_error=False)
        assert mine.success, system
        unknown = job.execute_in_process(instance=world.instance, tags=tenant_tags("t9"), raise_on_error=False)
        [failure] = [e for e in unknown.all_events if e.is_step_failure]
        assert failure.step_failure_data.error.message.strip().endswith(
            f"{system}: no tenant 't9' is registered (zensync tenants list)")
    assert used == ["StripeResource", "SalesforceResource"]


def test_a_tenant_whose_own_key_is_revoked_fails_only_its_own_run(world, monkeypatch):
    """t2 moves to its own secret key (the sandbox's keys all act in one account, its own), which Stripe then
    expires: t2's run stops at the first refusal, naming no key; t1's run beside it syncs."""
    own_key = "sk_test_tenant_two_own_runs"
    monkeypatch.setenv("T2_STRIPE_KEY", own_key)
    TenantStore(world.engine).update("t2", stripe_account=None, stripe_key="env:T2_STRIPE_KEY")
    requests.post(f"{world.stripe_url}/_sandbox/keys", json={"key": own_key, "revoked": True},
                  headers={"Authorization": f"Bearer {PLATFORM_KEY}"}, timeout=10).raise_for_status()
    refused, synced = world.run("t2", "stripe"), world.run("t1", "stripe")
    assert not refused.success and synced.success
    [failure] = [e for e in refused.all_events if e.is_step_failure]
    assert "Stripe refused the API key (401 authentication error)" in failure.step_failure_data.error.message
    assert own_key not in _logs(world, refused.run_id)
    assert world.stripe_names(None) == {} and world.stripe_names(world.accounts["t1"]) == _expected("t1")


def test_the_change_sensors_runs_land_each_tenants_changes_in_its_own_account_and_org(world):
    """The sensor's run requests, run as the daemon would with their tags: one tick for both tenants, then a
    change of t1's customer 1 reaches t1's account and org only, though t2 has a customer 1 too."""
    from dagster import build_sensor_context
    from sqlalchemy import update

    def tick(cursor=None):
        context = build_sensor_context(instance=world.instance, cursor=cursor, definitions=world.defs)
        return world.defs.resolve_sensor_def("customers_changes").evaluate_tick(context)

    def run_all(requests) -> set:
        for request in requests:
            job = world.defs.resolve_job_def(request.job_name)
            assert job.execute_in_process(instance=world.instance, tags=request.tags).success
        return {request.tags[LANE_TAG] for request in requests}

    first = tick()
    assert run_all(first.run_requests) == {f"{t}:{s}" for t in ROWS for s in ("stripe", "salesforce")}
    for tenant in ROWS:
        assert world.stripe_names(world.accounts[tenant]) == _expected(tenant)
        assert world.account_names(world.orgs[tenant]) == _expected(tenant)
    table = Table("tenant_customers", MetaData(), autoload_with=world.engine)
    with world.engine.begin() as connection:
        connection.execute(update(table).where(table.c.tenant_id == "t1", table.c.id == 1)
                           .values(name="T1 renamed", updated_at=dt.datetime.now(dt.timezone.utc)))
    assert run_all(tick(first.cursor).run_requests) == {"t1:stripe", "t1:salesforce"}
    assert world.stripe_names(world.accounts["t1"])["1"] == "T1 renamed"
    assert world.account_names(world.orgs["t1"])["1"] == "T1 renamed"
    assert world.stripe_names(world.accounts["t2"]) == _expected("t2")
    assert world.account_names(world.orgs["t2"]) == _expected("t2")
