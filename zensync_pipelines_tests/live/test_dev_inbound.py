"""A newcomer's first two-way moment in `zensync dev`: an invoice paid in the Stripe sandbox turns paid in the
catalog, through the receiver zensync dev started and registered, the inbox sensor and the inbound job."""

import stripe
from sqlalchemy import select

from zensync_pipelines.demo.tables import invoices
from zensync_pipelines.cli.dev import SANDBOX_STRIPE_KEY
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.mappings import MappingStore

from .conftest import wait_until


def test_an_invoice_paid_in_the_sandbox_turns_paid_in_the_catalog(zensync_dev):
    client = stripe.StripeClient(SANDBOX_STRIPE_KEY, base_addresses={"api": zensync_dev.stripe_url})

    engine = make_engine(zensync_dev.database_url)
    mappings = MappingStore(engine)

    def an_issued_invoice():  # issued in the catalog (so zensync will not pay it itself) and synced as open
        with engine.connect() as connection:
            issued = {str(i) for i in connection.execute(select(invoices.c.id).where(invoices.c.status == "issued"))
                      .scalars()}
        return next(((int(m["internal_id"]), m["external_id"]) for m in mappings.rows("invoices", "stripe")
                     if m["internal_id"] in issued and m["status"] == "synced"), None)

    internal_id, external_id = wait_until(an_issued_invoice, 180, "the invoices sensor syncing an issued invoice",
                                          server=zensync_dev)
    client.v1.invoices.pay(external_id, params={"paid_out_of_band": True})

    def paid():
        with engine.connect() as connection:
            found = connection.execute(select(invoices.c.status, invoices.c.paid_at)
                                       .where(invoices.c.id == internal_id)).one()
        return found if found.status == "paid" and found.paid_at is not None else None

    wait_until(paid, 120, "the catalog row turning paid", server=zensync_dev)
    engine.dispose()
