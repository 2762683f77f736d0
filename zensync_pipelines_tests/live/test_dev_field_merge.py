"""Two people, two sides, one customer, in `zensync dev`: billing edits a customer's email in the catalog while
support edits its phone in the Stripe sandbox (then, for another customer, sales edits the Account's phone with
`zensync sandbox salesforce-edit`), within one sensor interval. Both edits reach every side: the catalog, Stripe,
the Salesforce Account and Contact; nothing is written twice and no conflict is recorded."""

import datetime as dt
import shlex
import subprocess
import sys
import time

import requests
import stripe
from simple_salesforce import Salesforce
from sqlalchemy import select, update

from zensync_pipelines.cli.dev import SANDBOX_STRIPE_KEY
from zensync_pipelines.demo.tables import customers
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines.store.tables import conflicts

from .conftest import wait_until


def test_an_email_edited_in_the_catalog_and_a_phone_edited_in_a_system_both_reach_every_side(zensync_dev,
                                                                                              monkeypatch):
    printed = next(line for line in zensync_dev.log.read_text(errors="replace").splitlines()
                   if "zensync sandbox salesforce-edit" in line)
    arguments = shlex.split(printed.strip())[1:]
    salesforce_url, ca = arguments[arguments.index("--url") + 1], arguments[arguments.index("--ca-file") + 1]
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", ca)
    engine = make_engine(zensync_dev.database_url)
    client = stripe.StripeClient(SANDBOX_STRIPE_KEY, base_addresses={"api": zensync_dev.stripe_url})

    def mapped(row: int, system: str, object_type: str):
        return next((m for m in MappingStore(engine).rows("customers", system)
                     if m["internal_id"] == str(row) and m["object_type"] == object_type
                     and m["status"] == "synced"), None)

    def salesforce() -> Salesforce:
        token = requests.post(f"{salesforce_url}/services/oauth2/token", timeout=30, data={
            "grant_type": "client_credentials", "client_id": "zensync-dev",
            "client_secret": "zensync-dev-sandbox"}).json()
        return Salesforce(instance_url=token["instance_url"], session_id=token["access_token"])

    def sides(row: int) -> dict:
        with engine.connect() as connection:
            catalog = tuple(connection.execute(select(customers.c.email, customers.c.phone)
                                               .where(customers.c.id == row)).one())
        remote = client.v1.customers.retrieve(mapped(row, "stripe", "customer")["external_id"])
        sf = salesforce()
        [account] = sf.query(f"SELECT Phone FROM Account WHERE Zenskar_Id__c = '{row}'")["records"]
        [contact] = sf.query(f"SELECT Email, Phone FROM Contact WHERE Zenskar_Id__c = '{row}'")["records"]
        return {"catalog": catalog, "stripe": (remote.email, remote.phone), "account": account["Phone"],
                "contact": (contact["Email"], contact["Phone"])}

    for row, where in ((2, "stripe"), (3, "salesforce")):
        for system, object_type in (("stripe", "customer"), ("salesforce", "Account"), ("salesforce", "Contact")):
            wait_until(lambda: mapped(row, system, object_type), 180, f"customer {row} reaching {system}",
                       server=zensync_dev)
        email, phone = f"merged.{row}@example.com", f"+1 555 010{row}"
        started = time.monotonic()
        with engine.begin() as connection:
            connection.execute(update(customers).where(customers.c.id == row).values(
                email=email, updated_at=dt.datetime.now(dt.timezone.utc)))
        if where == "stripe":
            client.v1.customers.update(mapped(row, "stripe", "customer")["external_id"], params={"phone": phone})
        else:
            command = [a if not a.startswith("Phone=") else f"Phone={phone}" for a in arguments
                       if not a.startswith("BillingCity=")]
            command[command.index("1")] = str(row)
            subprocess.run([sys.executable, "-m", "zensync_pipelines.cli", *command], check=True, timeout=60)
        want = {"catalog": (email, phone), "stripe": (email, phone), "account": phone, "contact": (email, phone)}
        # The bound is generous for a loaded machine; zensync dev takes well under a minute on a quiet one.
        wait_until(lambda: sides(row) == want, 150, f"customer {row}'s two edits reaching every side",
                   interval=2, server=zensync_dev)
        print(f"customer {row}: both edits on every side after {time.monotonic() - started:.1f} s")
    with engine.connect() as connection:
        assert connection.execute(select(conflicts)).all() == []
    engine.dispose()
