"""The README's Salesforce moment in `zensync dev`: the one `zensync sandbox salesforce-edit` command zensync dev
prints edits customer 1's Account as a sales user; the sandbox's outbound message reaches the receiver zensync dev
wired, the inbox sensor starts the inbound job, the catalog follows, and the edit then reaches Stripe."""

import shlex
import subprocess
import sys

import stripe
from sqlalchemy import select

from zensync_pipelines.demo.tables import customers
from zensync_pipelines.cli.dev import SANDBOX_STRIPE_KEY
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.mappings import MappingStore

from .conftest import wait_until


def test_an_account_edited_in_salesforce_reaches_the_catalog_then_stripe(zensync_dev):
    printed = next(line for line in zensync_dev.log.read_text(errors="replace").splitlines()
                   if "zensync sandbox salesforce-edit" in line)  # the whole log: logs() is only its tail
    engine = make_engine(zensync_dev.database_url)

    def synced(system, object_type):
        return next((m for m in MappingStore(engine).rows("customers", system)
                     if m["internal_id"] == "1" and m["object_type"] == object_type and m["status"] == "synced"),
                    None)

    wait_until(lambda: synced("salesforce", "Account"), 180, "customer 1 reaching Salesforce", server=zensync_dev)
    stripe_customer = wait_until(lambda: synced("stripe", "customer"), 180, "customer 1 reaching Stripe",
                                 server=zensync_dev)["external_id"]
    arguments = shlex.split(printed.strip())[1:]  # the command exactly as printed, without the `zensync`
    subprocess.run([sys.executable, "-m", "zensync_pipelines.cli", *arguments], check=True, timeout=60)

    def followed():
        with engine.connect() as connection:
            found = connection.execute(select(customers.c.phone, customers.c.city)
                                       .where(customers.c.id == 1)).one()
        return found if tuple(found) == ("+1 555 0100", "Lyon") else None

    wait_until(followed, 120, "the catalog following the Salesforce edit", server=zensync_dev)
    client = stripe.StripeClient(SANDBOX_STRIPE_KEY, base_addresses={"api": zensync_dev.stripe_url})
    wait_until(lambda: client.v1.customers.retrieve(stripe_customer).phone == "+1 555 0100", 120,
               "the edit reaching Stripe through the catalog", server=zensync_dev)
    engine.dispose()
