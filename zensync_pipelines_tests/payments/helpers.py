"""Shared set-up of the payments tests: customers and invoices synced to the Stripe sandbox, invoices paid and
refunded there by hand (the real SDK, no zensync key), and the inbound runs that bring the charges in."""

from __future__ import annotations

import itertools
from typing import Any

import stripe
from sqlalchemy import select

from zensync_pipelines.demo.tables import metadata, payments
from zensync_pipelines.engine.inbound.run import InboundRun
from zensync_pipelines.store.inbound_apply import InboundTables
from zensync_pipelines.systems.stripe import StripeResource
from zensync_pipelines.dagster_defs.inbound_systems import INBOUND_SYSTEMS
from zensync_pipelines_tests.inbound.helpers import KEY, SPECS, add_customers, add_invoice, by_hand, push, \
    stripe_id

_runs = itertools.count()


def world(engine, url: str) -> None:
    """Customers 1-2 with an open invoice each (1 and 2, 10.00 USD) in the catalog and in Stripe."""
    add_customers(engine, 2)
    metadata.create_all(engine, tables=[payments])
    add_invoice(engine, 1, 1)
    add_invoice(engine, 2, 2)
    push(engine, url, "customers")
    assert push(engine, url, "invoices").created == 2


def pay(engine, url: str, invoice: int, method: str = "pm_card_visa") -> stripe.Invoice:
    """Pay a catalog invoice in Stripe by card, as its customer would."""
    return by_hand(url).v1.invoices.pay(stripe_id(engine, "invoices", invoice), {"payment_method": method})


def charge_of(url: str, stripe_invoice: str) -> stripe.Charge:
    client = by_hand(url)
    link = client.v1.invoice_payments.list({"invoice": stripe_invoice}).data[0]
    return client.v1.charges.retrieve(client.v1.payment_intents.retrieve(link.payment.payment_intent).latest_charge)


def inbound_payments(engine, url: str):
    """One inbound run of payments from Stripe, with the decoder and fetcher the Dagster asset uses."""
    resource = StripeResource(api_key=KEY, api_base=url, rate_limit_per_second=500)
    decoder, fetcher, adopter = INBOUND_SYSTEMS["stripe"].parts(resource, {})
    return InboundRun(SPECS["payments"], "stripe", InboundTables(engine), decoder, fetcher, f"pay-{next(_runs)}",
                      adopter=adopter).run()


def payment_rows(engine) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [dict(r._mapping) for r in connection.execute(select(payments).order_by(payments.c.id))]
