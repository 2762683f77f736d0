"""The Stripe poll job reads each registered tenant's connected account, through the real SDK against the sandbox,
into that tenant's inbox rows from that tenant's own stored cursor; one tenant's broken access fails the run
loudly after the others were polled; without tenants the poll is the single-tenant one."""

from __future__ import annotations

import stripe
from dagster import DagsterInstance, Definitions

from zensync_pipelines.catalogs import load_specs
from zensync_pipelines.dagster_defs.inbound_automation import build_polling_definitions
from zensync_pipelines.dagster_defs.resources import CatalogDatabase
from zensync_pipelines.dagster_defs.settings import AutomationSettings
from zensync_pipelines.store import migrate
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.inbox import InboxStore
from zensync_pipelines.store.state import StateStore
from zensync_pipelines.store.tenant_fields import Tenant
from zensync_pipelines.store.tenants import TenantStore
from zensync_pipelines.systems.stripe import StripeResource
from zensync_pipelines.systems.stripe.polling import CURSOR_KEY, SCOPE

KEY = "sk_test_tenant_polling"


def _poll_job(database_url: str, stripe_url: str):
    jobs, _ = build_polling_definitions(load_specs(), AutomationSettings())
    resources = {"catalog_db": CatalogDatabase(url=database_url),
                 "stripe": StripeResource(api_key=KEY, api_base=stripe_url, rate_limit_per_second=500)}
    defs = Definitions(jobs=[j for j in jobs if j.name == "poll_stripe"], resources=resources)
    return defs.resolve_job_def("poll_stripe")


def _customer(client: stripe.StripeClient, email: str) -> str:
    return client.v1.customers.create(params={"email": email}).id


def test_each_tenants_account_is_polled_into_its_own_inbox_from_its_own_cursor(database_url, stripe_sandbox,
                                                                                 monkeypatch):
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    monkeypatch.setenv("STRIPE_API_KEY", KEY)  # Connect: the platform's key with each tenant's Stripe-Account
    monkeypatch.setenv("STRIPE_API_BASE", stripe_sandbox.url)
    platform = stripe.StripeClient(KEY, base_addresses={"api": stripe_sandbox.url}, max_network_retries=0)
    accounts = {t: platform.v1.accounts.create(params={"type": "custom", "country": "US"}).id for t in ("t1", "t2")}
    store = TenantStore(engine)
    for tenant, account in accounts.items():
        store.add(Tenant(tenant, stripe_account=account))
    clients = {t: stripe.StripeClient(KEY, stripe_account=a, base_addresses={"api": stripe_sandbox.url},
                                      max_network_retries=0) for t, a in accounts.items()}
    made = {"default": {_customer(platform, "platform@example.com")},
            "t1": {_customer(clients["t1"], f"{i}@t1.example") for i in range(2)},
            "t2": {_customer(clients["t2"], "0@t2.example")}}

    job = _poll_job(database_url, stripe_sandbox.url)
    instance = DagsterInstance.ephemeral()
    result = job.execute_in_process(instance=instance)
    assert result.success
    for tenant, ids in made.items():  # each tenant's events, and only its own, in its inbox rows
        rows = InboxStore(engine, tenant).rows(system="stripe")
        assert {r["external_id"] for r in rows} == ids, tenant
        assert StateStore(engine, tenant).get(SCOPE, CURSOR_KEY), tenant  # its own cursor, under its tenant
    [output] = [e for e in result.all_events if e.event_type_value == "STEP_OUTPUT"]
    metadata = output.event_specific_data.metadata
    assert metadata["stored"].value == 1  # the default tenant's, as before tenants
    assert {t: r["stored"] for t, r in metadata["tenants"].value.items()} == {"default": 1, "t1": 2, "t2": 1}

    # A new event in t2's account only: the next poll reads each account from its cursor, storing t2's alone.
    made["t2"].add(_customer(clients["t2"], "1@t2.example"))
    again = job.execute_in_process(instance=instance)
    [output] = [e for e in again.all_events if e.event_type_value == "STEP_OUTPUT"]
    assert {t: r["stored"] for t, r in output.event_specific_data.metadata["tenants"].value.items()} == {
        "default": 0, "t1": 0, "t2": 1}

    # t1's account is gone: the run fails naming t1, after t2's new event was polled all the same.
    platform.v1.accounts.delete(accounts["t1"])
    made["t2"].add(_customer(clients["t2"], "2@t2.example"))
    broken = job.execute_in_process(instance=instance, raise_on_error=False)
    assert not broken.success
    [failure] = [e for e in broken.all_events if e.event_type_value == "STEP_FAILURE"]
    description = failure.step_failure_data.user_failure_data.description
    assert description.startswith("stripe poll failed for 1 of 3 tenants: t1: ") and "\n" not in description
    assert KEY not in description
    assert {r["external_id"] for r in InboxStore(engine, "t2").rows(system="stripe")} == made["t2"]
    engine.dispose()
