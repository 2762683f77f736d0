"""The payments moment in `zensync dev` alone: an open invoice paid by card with `zensync sandbox stripe-pay`
becomes a payments row linked to its invoice and customer, then a Payment__c in the Salesforce sandbox; a refund
with `zensync sandbox stripe-refund` moves amount_refunded in both. Through the receiver zensync dev registered,
the inbox sensor, the inbound job, the change sensor and the Salesforce copy's job."""

import subprocess
import sys

from sqlalchemy import select

from zensync_pipelines.demo.tables import invoices, payments
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.mappings import MappingStore

from .conftest import ROOT, wait_until


def zensync(*args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "zensync_pipelines.cli", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_card_payment_and_its_refund_reach_the_catalog_and_salesforce(zensync_dev):
    engine = make_engine(zensync_dev.database_url)
    mappings = MappingStore(engine)

    def an_issued_invoice():  # issued in the catalog and synced to both systems
        with engine.connect() as connection:
            issued = {str(i) for i in connection.execute(select(invoices.c.id).where(invoices.c.status == "issued"))
                      .scalars()}
        in_salesforce = {m["internal_id"] for m in mappings.rows("invoices", "salesforce") if m["status"] == "synced"}
        return next((int(m["internal_id"]) for m in mappings.rows("invoices", "stripe")
                     if m["internal_id"] in issued & in_salesforce and m["status"] == "synced"), None)

    invoice_id = wait_until(an_issued_invoice, 240, "the invoices sensors syncing an issued invoice",
                            server=zensync_dev)
    paid = zensync("sandbox", "stripe-pay", "--url", zensync_dev.stripe_url, str(invoice_id))
    assert "paid by pm_card_visa" in paid

    def the_payment():
        with engine.connect() as connection:
            rows = [dict(r._mapping) for r in connection.execute(select(payments))]
        return rows[0] if rows else None

    row = wait_until(the_payment, 120, "the charge becoming a payments row", server=zensync_dev)
    with engine.connect() as connection:
        customer = connection.execute(select(invoices.c.customer_id).where(invoices.c.id == invoice_id)).scalar()
    assert (row["invoice_id"], row["customer_id"], row["status"], row["amount_refunded"]) == \
        (invoice_id, customer, "succeeded", 0)

    def in_salesforce():
        found = [m for m in mappings.rows("payments", "salesforce", internal_id=str(row["id"]))
                 if m["status"] == "synced"]
        return found[0] if found else None

    before = wait_until(in_salesforce, 120, "the payment reaching Salesforce as Payment__c", server=zensync_dev)
    zensync("sandbox", "stripe-refund", "--url", zensync_dev.stripe_url, str(invoice_id), "--amount", "100")

    def refunded():
        current = the_payment()
        return current if current and current["amount_refunded"] == 100 else None

    wait_until(refunded, 120, "the refund reaching the payments row", server=zensync_dev)
    wait_until(lambda: (in_salesforce() or {}).get("fingerprint") not in (None, before["fingerprint"]), 120,
               "the refund reaching the Payment__c", server=zensync_dev)
    engine.dispose()
