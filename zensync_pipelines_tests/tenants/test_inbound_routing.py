"""Inbound routed to its tenant before anything is stored, over real HTTP to the receiver, on SQLite and PostgreSQL:
Stripe events by their `account` (Connect) or by a tenant's own endpoint and secret, Salesforce messages by their
OrganizationId; unknown and disabled tenants refused with nothing stored; a disable felt within the registry
cache's lifetime; and the sandboxes' own deliveries (a connected account's edit, another org's) reaching only their
tenant's inbox."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator, Optional

import requests
import stripe
from simple_salesforce import Salesforce
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import func, select

from zensync_pipelines.catalogs import load_specs
from zensync_pipelines.cli.dev_receiver import start_dev_receiver
from zensync_pipelines.inbound.app import Receiver, ReceiverContext, build_app
from zensync_pipelines.inbound.routing import TenantDirectory
from zensync_pipelines.inbound.salesforce import build_routes as salesforce_routes
from zensync_pipelines.inbound.stripe import build_routes as stripe_routes
from zensync_pipelines.sandbox.salesforce import SalesforceSandbox
from zensync_pipelines.sandbox.salesforce.auth import ORG_ID
from zensync_pipelines.sandbox.stripe.webhooks import sign
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.inbox import ENVELOPE, InboxStore
from zensync_pipelines.store.tables import inbound_events
from zensync_pipelines.store.tenants import Tenant, TenantStore
from zensync_pipelines.systems.salesforce.outbound_auth import OutboundSettings
from zensync_pipelines_tests.conftest import free_port
from zensync_pipelines_tests.inbound.receiver import serving
from zensync_pipelines_tests.inbound.test_security import soap, soap_post
from zensync_pipelines_tests.salesforce_inbound.envelopes import split_all
from zensync_pipelines_tests.sandbox_salesforce.conftest import wait_until

SECRET, OWN_SECRET, TOKEN = "whsec_platform", "whsec_t3_own", "s3cret-path-t0ken"
TTL = 0.3  # the receiver's registry cache lifetime in these tests (5 s in production)
ORG_1, ORG_2 = "00D000000000001", "00D000000000002"  # 15-character org ids; the registry keeps the 18-character form


@contextlib.contextmanager
def receiving(engine, platform_secrets: Optional[list[str]] = None, ttl: float = TTL) -> Iterator[str]:
    """Both routes on the receiver's own server; `platform_secrets` may be filled after it started (a sandbox
    endpoint's secret is known only once the endpoint exists, which needs the receiver's URL)."""
    platform_secrets = [SECRET] if platform_secrets is None else platform_secrets
    context = ReceiverContext(engine, load_specs(), tenant_ttl=ttl)
    receivers = [Receiver("stripe", lambda c: stripe_routes(c, platform_secrets)),
                 Receiver("salesforce", lambda c: salesforce_routes(c, OutboundSettings(ORG_ID, TOKEN)))]
    with serving(build_app(context, receivers)) as url:
        yield url


def event(event_id: str, account: Optional[str] = None, object_id: str = "cus_1") -> dict:
    found = {"id": event_id, "object": "event", "type": "customer.updated", "created": int(time.time()),
             "request": {"id": None, "idempotency_key": None},
             "data": {"object": {"id": object_id, "object": "customer", "metadata": {"zenskar_id": "1"}}}}
    return found | ({"account": account} if account else {})


def post(url: str, body: dict, secret: str = SECRET, path: str = "/webhooks/stripe") -> requests.Response:
    text = json.dumps(body)
    return requests.post(url + path, data=text.encode(), timeout=10, headers={
        "Content-Type": "application/json", "Stripe-Signature": sign(text, [secret], int(time.time()))})


def inbox(engine, tenant: str = "default") -> list[tuple[str, str]]:
    """(event id, external id) of the tenant's inbox rows, Salesforce envelopes split into their notifications
    first (as the inbox job does)."""
    split_all(engine, tenant)
    return [(row["event_id"], row["external_id"]) for row in InboxStore(engine, tenant).rows()
            if row["event_type"] != ENVELOPE]


def stored(engine) -> int:
    """Events in the inbox, every tenant's (Salesforce envelopes not counted: `inbox` splits them)."""
    with engine.connect() as connection:
        return connection.execute(select(func.count()).select_from(inbound_events)
                                  .where(inbound_events.c.event_type != ENVELOPE)).scalar_one()


def refusals(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "zensync.webhooks" and r.levelno >= 30]


def test_connected_accounts_events_naming_the_same_object_land_in_their_own_tenants_inbox(engine):
    registry = TenantStore(engine)
    registry.add(Tenant("t1", stripe_account="acct_1One"))
    registry.add(Tenant("t2", stripe_account="acct_2Two"))
    with receiving(engine) as url:
        assert post(url, event("evt_t1", "acct_1One")).json() == {"stored": 1}
        assert post(url, event("evt_t2", "acct_2Two")).json() == {"stored": 1}
        assert post(url, event("evt_platform")).json() == {"stored": 1}  # the platform's own: the default tenant
        assert post(url, event("evt_t1", "acct_1One")).json() == {"stored": 0}  # a redelivery
        # Deliveries that arrive together share a group commit: each row keeps its own tenant.
        bodies = [event(f"evt_burst_{n}", [None, "acct_1One", "acct_2Two"][n % 3], f"cus_{n}") for n in range(30)]
        with ThreadPoolExecutor(10) as pool:
            answers = list(pool.map(lambda body: post(url, body).json(), bodies))
    assert answers == [{"stored": 1}] * 30
    assert inbox(engine, "t1")[0] == ("evt_t1", "cus_1") and inbox(engine, "t2")[0] == ("evt_t2", "cus_1")
    assert inbox(engine)[0] == ("evt_platform", "cus_1")
    for tenant, first in (("default", 0), ("t1", 1), ("t2", 2)):
        assert sorted(inbox(engine, tenant)[1:]) == sorted((f"evt_burst_{n}", f"cus_{n}") for n in range(first, 30, 3))
    assert stored(engine) == 33


def test_unknown_and_disabled_tenants_are_refused_nothing_stored_and_a_disable_is_felt_within_the_cache_life(
        engine, caplog):
    registry = TenantStore(engine)
    registry.add(Tenant("t1", stripe_account="acct_1One"))
    registry.add(Tenant("t2", status="disabled", stripe_account="acct_2Two"))
    with receiving(engine) as url:
        unknown = post(url, event("evt_unknown", "acct_9Unknown"))
        assert unknown.status_code == 403 and "acct_9Unknown' is not a registered tenant's" in unknown.json()["error"]
        disabled = post(url, event("evt_disabled", "acct_2Two"))
        assert (disabled.status_code, disabled.json()["error"]) == (403, "tenant t2 (account acct_2Two) is disabled")
        assert post(url, event("evt_bad_account", 7)).status_code == 400  # not an account id
        assert stored(engine) == 0
        assert len(refusals(caplog)) == 3  # each refusal logged once
        assert post(url, event("evt_before", "acct_1One")).status_code == 200
        registry.disable("t1")  # `zensync tenants disable t1`, in another process: no restart of the receiver
        time.sleep(TTL + 0.1)
        assert post(url, event("evt_after", "acct_1One")).status_code == 403
        registry.enable("t1")
        time.sleep(TTL + 0.1)
        assert post(url, event("evt_again", "acct_1One")).status_code == 200
    assert inbox(engine, "t1") == [("evt_before", "cus_1"), ("evt_again", "cus_1")] and stored(engine) == 2


def test_deliveries_share_one_registry_read_per_cache_life(engine):
    TenantStore(engine).add(Tenant("t1", stripe_account="acct_1One"))
    reads = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if "FROM zensync_tenants" in statement:
            reads.append(statement)

    sqlalchemy_event.listen(engine, "before_cursor_execute", count)
    with receiving(engine, ttl=60) as url:
        with ThreadPoolExecutor(8) as pool:  # concurrent first deliveries wait for one read, not one each
            answers = list(pool.map(lambda n: post(url, event(f"evt_{n}", "acct_1One")).status_code, range(24)))
        assert post(url, event("evt_platform")).status_code == 200
    assert answers == [200] * 24 and len(reads) == 1


async def _directory_reads(engine) -> tuple[int, int, int]:
    now = [0.0]
    directory = TenantDirectory(engine, ttl=5, clock=lambda: now[0])
    loads = []
    load = directory._load
    directory._load = lambda: loads.append(1) or load()
    await asyncio.gather(*(directory.snapshot() for _ in range(10)))
    first = len(loads)
    now[0] = 4.9
    await directory.snapshot()
    kept = len(loads)
    now[0] = 5.1
    assert "t1" in (await directory.snapshot()).by_id
    return first, kept, len(loads)


def test_the_registry_copy_is_read_once_for_concurrent_deliveries_and_again_after_its_life(engine):
    TenantStore(engine).add(Tenant("t1", stripe_account="acct_1One"))
    assert asyncio.run(_directory_reads(engine)) == (1, 1, 2)


def test_without_tenants_every_event_is_the_default_tenants_as_before(engine):
    with receiving(engine) as url:
        assert post(url, event("evt_connect", "acct_1One")).json() == {"stored": 1}
        assert post(url, event("evt_platform")).json() == {"stored": 1}
    assert inbox(engine) == [("evt_connect", "cus_1"), ("evt_platform", "cus_1")]


def test_a_tenants_own_endpoint_takes_its_own_signature_and_refuses_the_platforms(engine, monkeypatch, caplog):
    monkeypatch.setenv("T3_WHSEC", f"{OWN_SECRET}, whsec_t3_rolled")  # two while Stripe signs with both
    registry = TenantStore(engine)
    registry.add(Tenant("t1", stripe_account="acct_1One"))  # no secret of its own
    registry.add(Tenant("t3", stripe_account="acct_3Own", stripe_key="env:T3_KEY",
                        stripe_webhook_secret="env:T3_WHSEC"))
    registry.add(Tenant("t4", status="disabled", stripe_webhook_secret="env:T3_WHSEC"))
    registry.add(Tenant("t5", stripe_webhook_secret="env:T5_WHSEC_UNSET"))
    with receiving(engine) as url:
        assert post(url, event("evt_own"), OWN_SECRET, "/webhooks/stripe/t3").json() == {"stored": 1}
        assert post(url, event("evt_rolled"), "whsec_t3_rolled", "/webhooks/stripe/t3").json() == {"stored": 1}
        assert post(url, event("evt_same_account", "acct_3Own"), OWN_SECRET, "/webhooks/stripe/t3").status_code == 200
        cases = [(event("evt_platform_signed"), SECRET, "/webhooks/stripe/t3", 400, "bad signature"),
                 (event("evt_own_on_platform"), OWN_SECRET, "/webhooks/stripe", 400, "bad signature"),
                 (event("evt_foreign", "acct_1One"), OWN_SECRET, "/webhooks/stripe/t3", 403, "the event's account"),
                 (event("evt_nobody"), OWN_SECRET, "/webhooks/stripe/nobody", 404, "no tenant 'nobody'"),
                 (event("evt_default"), SECRET, "/webhooks/stripe/default", 404, "no tenant 'default'"),
                 (event("evt_t1"), SECRET, "/webhooks/stripe/t1", 404, "tenant t1 has no webhook secret"),
                 (event("evt_t4"), OWN_SECRET, "/webhooks/stripe/t4", 403, "tenant t4 is disabled")]
        for body, secret, path, status, reason in cases:
            answer = post(url, body, secret, path)
            assert (answer.status_code, answer.json()["error"][:len(reason)]) == (status, reason), path
        unresolved = post(url, event("evt_t5"), SECRET, "/webhooks/stripe/t5")  # our configuration, not theirs
        assert unresolved.status_code == 503  # Stripe delivers it again once the secret is set
    assert sorted(inbox(engine, "t3")) == [("evt_own", "cus_1"), ("evt_rolled", "cus_1"), ("evt_same_account", "cus_1")]
    assert stored(engine) == 3
    assert any("tenant t5: stripe_webhook_secret: environment variable T5_WHSEC_UNSET is not set" in line
               for line in refusals(caplog))
    assert OWN_SECRET not in caplog.text and SECRET not in caplog.text


def test_salesforce_messages_are_routed_by_organization_id(engine, caplog):
    registry = TenantStore(engine)
    registry.add(Tenant("t1", salesforce_org=ORG_1))
    registry.add(Tenant("t2", status="disabled", salesforce_org=ORG_2))
    with receiving(engine) as url:
        assert soap_post(url, soap(notification_id="04l000000000001AAA")).status_code == 200  # the default org
        # The same notification id from another org: its own row, under its own tenant (both id forms match).
        assert soap_post(url, soap(notification_id="04l000000000001AAA", org=ORG_1)).status_code == 200
        assert soap_post(url, soap(notification_id="04l000000000002AAA",
                                   org=registry.get("t1").salesforce_org)).status_code == 200
        unknown = soap_post(url, soap(notification_id="04l000000000003AAA", org="00D000000000009"))
        disabled = soap_post(url, soap(notification_id="04l000000000004AAA", org=ORG_2))
    assert unknown.status_code == 403 and b"another organization" in unknown.content
    assert disabled.status_code == 403 and b"tenant t2" in disabled.content and b"is disabled" in disabled.content
    assert [e for e, _ in inbox(engine)] == ["04l000000000001AAA"]
    assert [e for e, _ in inbox(engine, "t1")] == ["04l000000000001AAA", "04l000000000002AAA"]
    assert stored(engine) == 3
    assert [line.split(" refused ")[1][:30] for line in refusals(caplog)] == [
        "403: organization_mismatch: th", "403: tenant_disabled: tenant t"]


def test_the_registry_unreachable_is_a_5xx_so_the_event_comes_again(sqlite_url):
    down = make_engine(f"postgresql+psycopg2://postgres@127.0.0.1:{free_port()}/test")
    with receiving(down) as url:
        assert post(url, event("evt_connect", "acct_1One")).status_code == 503
        assert post(url, event("evt_own"), OWN_SECRET, "/webhooks/stripe/t3").status_code == 503
        assert soap_post(url, soap(org=ORG_1)).status_code == 500  # a SOAP fault Salesforce retries


def as_account(url: str, account: Optional[str] = None) -> stripe.StripeClient:
    return stripe.StripeClient("sk_test_routing", stripe_account=account, base_addresses={"api": url},
                               max_network_retries=0)


def test_stripe_sandbox_edits_in_connected_accounts_reach_only_their_tenants_inbox(engine, stripe_sandbox,
                                                                                   monkeypatch):
    platform = as_account(stripe_sandbox.url)
    one, two = (platform.v1.accounts.create({"type": "custom"}).id for _ in range(2))
    platform_secrets = ["whsec_until_the_endpoint_exists"]
    with receiving(engine, platform_secrets) as url:
        # The platform's Connect endpoint gets every connected account's events; t2 also has its own endpoint.
        platform_secrets.append(platform.v1.webhook_endpoints.create(
            {"url": f"{url}/webhooks/stripe", "enabled_events": ["*"], "connect": True}).secret)
        own = as_account(stripe_sandbox.url, two).v1.webhook_endpoints.create(
            {"url": f"{url}/webhooks/stripe/t2", "enabled_events": ["customer.updated"]})
        monkeypatch.setenv("T2_WHSEC", own.secret)
        TenantStore(engine).add(Tenant("t1", stripe_account=one))
        TenantStore(engine).add(Tenant("t2", stripe_account=two, stripe_webhook_secret="env:T2_WHSEC"))
        customers = {}
        for tenant, account in (("t1", one), ("t2", two)):
            client = as_account(stripe_sandbox.url, account)
            customers[tenant] = client.v1.customers.create({"email": f"a@{tenant}.example"}).id
            client.v1.customers.update(customers[tenant], {"email": f"b@{tenant}.example"})  # a dashboard edit
        wanted = {"t1": 2, "t2": 2}  # customer.created and customer.updated each (t2's came twice: stored once)
        wait_until(lambda: {t: len(inbox(engine, t)) for t in wanted} == wanted, timeout=15)
    for tenant in wanted:
        rows = InboxStore(engine, tenant).rows()
        assert {row["external_id"] for row in rows} == {customers[tenant]}
        assert {json.loads(row["payload"])["account"] for row in rows} == {one if tenant == "t1" else two}
    assert inbox(engine) == []


def test_salesforce_sandbox_messages_of_another_org_reach_its_tenants_inbox(engine):
    with SalesforceSandbox() as sb, receiving(engine) as url:
        sb.configure(outbound_base_delay=0.01, outbound_max_delay=0.05)
        other = sb.add_org("Tenant Two")
        TenantStore(engine).add(Tenant("t2", salesforce_org=other.id))
        endpoint = {"*": f"{url}/webhooks/salesforce/{TOKEN}"}
        sb.org().outbound.configure(endpoint)
        other.outbound.configure(endpoint)
        accounts = {}
        for tenant, org in (("default", sb.org()), ("t2", other)):
            sales = Salesforce(instance_url=sb.instance_url, session_id=sb.new_session(org.sales_user),
                               session=sb.requests_session())
            accounts[tenant] = sales.Account.create({"Name": f"Acme {tenant}"})["id"]
        wait_until(lambda: len(inbox(engine)) == 1 and len(inbox(engine, "t2")) == 1, timeout=15)
    for tenant, record in accounts.items():
        assert [external for _, external in inbox(engine, tenant)] == [record]


def test_the_dev_receiver_takes_the_platforms_and_its_connected_accounts_events(engine, stripe_sandbox):
    """`zensync dev` registers the platform's endpoint and its Connect endpoint: both reach their tenant."""
    platform = as_account(stripe_sandbox.url)
    one = platform.v1.accounts.create({"type": "custom"}).id
    TenantStore(engine).add(Tenant("t1", stripe_account=one))
    receiver = start_dev_receiver(engine, "sk_test_routing", stripe_sandbox.url, free_port())
    try:
        mine = platform.v1.customers.create({"email": "a@platform.example"}).id
        theirs = as_account(stripe_sandbox.url, one).v1.customers.create({"email": "a@t1.example"}).id
        wait_until(lambda: len(inbox(engine)) == 1 and len(inbox(engine, "t1")) == 1, timeout=15)
    finally:
        receiver.stop()
    assert [external for _, external in inbox(engine)] == [mine]
    assert [external for _, external in inbox(engine, "t1")] == [theirs]
