"""`zensync dev --tenants 2` as a user starts it: the change sensors sync each tenant's rows to its own connected
account and its own org, and no other; a tenant's later edit reaches only its own account, through the sensor;
`zensync status --json` then tells each tenant's copies apart."""

import datetime as dt
import json
import os
import signal
import subprocess
import sys

import pytest
import requests
import stripe
from click.testing import CliRunner
from simple_salesforce import Salesforce
from sqlalchemy import update

from zensync_pipelines.cli import main
from zensync_pipelines.cli.dev import SANDBOX_STRIPE_KEY
from zensync_pipelines.demo.seed import TENANT_IDS
from zensync_pipelines.demo.tables import customers
from zensync_pipelines.store.db import make_engine

from ..conftest import free_port, wait_for_port
from .conftest import ARTIFACTS, ROOT, DevServer, wait_until

CUSTOMERS = 3
IDS = {"default": {str(i) for i in range(1, CUSTOMERS + 1)},
       **{f"t{n}": {str(n * TENANT_IDS + i) for i in range(1, CUSTOMERS + 1)} for n in (1, 2)}}


@pytest.fixture(scope="module")
def dev_tenants(tmp_path_factory):
    data = tmp_path_factory.mktemp("zensync-dev-tenants")
    ARTIFACTS.mkdir(exist_ok=True)
    server = DevServer(data, free_port(), free_port(), ARTIFACTS / "zensync-dev-tenants.log")
    server.salesforce_port = free_port()
    env = dict(os.environ, ZENSYNC_DATA_DIR=str(data), ZENSYNC_SENSOR_INTERVAL_SECONDS="2", TMPDIR=str(data),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    for inherited in ("ZENSYNC_DATABASE_URL", "ZENSYNC_SENSORS_DEFAULT", "DAGSTER_HOME"):
        env.pop(inherited, None)
    command = [sys.executable, "-m", "zensync_pipelines.cli", "dev", "--port", str(server.port),
               "--stripe-port", str(server.stripe_port), "--salesforce-port", str(server.salesforce_port),
               "--webhook-port", str(free_port()), "--customers", str(CUSTOMERS), "--tenants", "2"]
    with server.log.open("w") as log:
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        wait_for_port(server.port, process, timeout=300)  # a bound on a hang: the UI takes minutes on a busy machine
        yield server
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def _tenants(server: DevServer) -> dict[str, tuple[str, str]]:
    """tenant -> (connected account, org), from the lines zensync dev printed, one per tenant:
    `tenant t1: Stripe account acct_..., Salesforce org 00D..., 6 rows seeded`."""
    lines = [line.split() for line in server.log.read_text().splitlines() if line.startswith("tenant t")]
    return {words[1].rstrip(":"): (words[4].rstrip(","), words[7].rstrip(",")) for words in lines}


def _stripe_ids(server: DevServer, account: str | None) -> set[str]:
    client = stripe.StripeClient(SANDBOX_STRIPE_KEY, stripe_account=account,
                                 base_addresses={"api": server.stripe_url})
    return {c.metadata["zenskar_id"] for c in client.v1.customers.list(params={"limit": 100}).auto_paging_iter()}


def _org_ids(server: DevServer) -> dict[str, set[str]]:
    """org id -> the Zenskar ids of its Accounts, read as each org's integration user."""
    base = f"https://127.0.0.1:{server.salesforce_port}"
    session = requests.Session()
    session.verify, session.trust_env = str(server.data / "salesforce-sandbox-ca.pem"), False
    found = {}
    for org in session.get(f"{base}/_sandbox/orgs", timeout=10).json()["orgs"]:
        token = session.post(f"{base}/_sandbox/session", json={"user_id": org["integration_user_id"]},
                             timeout=10).json()["access_token"]
        sf = Salesforce(instance_url=base, session_id=token, session=session)
        found[org["organization_id"]] = {r["Zenskar_Id__c"] for r in
                                         sf.query_all("SELECT Zenskar_Id__c FROM Account")["records"]}
    return found


def test_each_tenants_rows_reach_its_own_account_and_org_only(dev_tenants, monkeypatch):
    server = dev_tenants
    tenants = wait_until(lambda: len(_tenants(server)) == 2 and _tenants(server), 60, "two tenant lines",
                         server=server)
    accounts = {t: account for t, (account, _) in tenants.items()}
    assert accounts["t1"] != accounts["t2"] and all(a.startswith("acct_") for a in accounts.values())

    def in_stripe():
        found = {t: _stripe_ids(server, accounts.get(t)) for t in IDS}  # the default tenant's: the platform's own
        return found if found == IDS else None

    assert wait_until(in_stripe, 150, "each tenant's customers in its own Stripe account", server=server) == IDS

    def in_salesforce():
        found = _org_ids(server)
        return found if len(found) == 3 and all(found.get(tenants[t][1]) == IDS[t] for t in ("t1", "t2")) \
            and IDS["default"] in found.values() else None

    # Three orgs, the deployment's own and one per tenant, each holding its own tenant's Accounts only.
    assert wait_until(in_salesforce, 150, "each tenant's Accounts in its own org", server=server)

    # A later edit of t1's customer: the change sensor's next tick asks for a run of t1's copy, which reaches t1's
    # account only (t2's customer with the same offset, and the default tenant's, keep their names).
    first = min(IDS["t1"], key=int)
    engine = make_engine(server.database_url)
    with engine.begin() as connection:
        connection.execute(update(customers).where(customers.c.id == int(first)).values(
            name="Renamed by t1", updated_at=dt.datetime.now(dt.timezone.utc)))
    engine.dispose()

    def renamed():
        names = {t: {c.metadata["zenskar_id"]: c.name for c in stripe.StripeClient(
            SANDBOX_STRIPE_KEY, stripe_account=accounts.get(t), base_addresses={"api": server.stripe_url})
            .v1.customers.list(params={"limit": 100}).auto_paging_iter()} for t in IDS}
        return names if names["t1"][first] == "Renamed by t1" else None

    names = wait_until(renamed, 120, "t1's edit in t1's Stripe account", server=server)
    assert "Renamed by t1" not in set(names["t2"].values()) | set(names["default"].values())
    # The runs that did it were the sensor's, each tagged with its tenant (none launched by zensync dev itself).
    runs = server.graphql('{ runsOrError(filter: {tags: [{key: "zensync/tenant", value: "t1"}]}) '
                          '{ ... on Runs { results { tags { key value } } } } }')["runsOrError"]["results"]
    assert runs and all(any(t["key"] == "dagster/sensor_name" for t in r["tags"]) for r in runs)

    monkeypatch.setenv("ZENSYNC_DATABASE_URL", server.database_url)
    monkeypatch.setenv("ZENSYNC_DATA_DIR", str(server.data))
    monkeypatch.delenv("DAGSTER_HOME", raising=False)

    def synced_in_status():
        result = CliRunner().invoke(main, ["status", "--json"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        found = {t["id"]: {(c["catalog"], c["system"]): c for c in t["copies"]}
                 for t in json.loads(result.output)["tenants"]}
        done = all(found[t][("customers", "stripe")]["counts"]["synced"] == CUSTOMERS
                   and (found[t][("customers", "stripe")]["last_run"] or {}).get("status") == "success"
                   for t in ("t1", "t2"))
        return found if done else None

    found = wait_until(synced_in_status, 60, "zensync status --json telling each tenant's copies", server=server)
    assert list(found) == ["default", "t1", "t2"]
