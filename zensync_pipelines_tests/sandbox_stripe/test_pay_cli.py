"""`zensync sandbox stripe-pay` and `stripe-refund` against a running sandbox: a customer's card payment, a decline
in one line, refunds by charge or by the catalog's invoice id; the events carry no zensync key (no echo)."""

from __future__ import annotations

from click.testing import CliRunner

from zensync_pipelines.cli.sandbox import sandbox
from zensync_pipelines_tests.sandbox_stripe.conftest import KEY
from zensync_pipelines_tests.sandbox_stripe.test_events import open_invoice


def run(url: str, *args: str):
    return CliRunner().invoke(sandbox, [args[0], "--url", url, "--api-key", KEY, *args[1:]])


def test_pay_then_refund_in_part_then_the_rest(sandbox, client) -> None:
    invoice = open_invoice(client, 1250)  # zenskar id i1
    paid = run(sandbox.url, "stripe-pay")  # the newest open invoice
    assert paid.exit_code == 0, paid.output
    assert paid.output.strip() == f"invoice {invoice.id} (zenskar id i1): paid, 12.50 USD paid by pm_card_visa"
    charge = client.v1.charges.list({"customer": invoice.customer}).data[0]
    assert charge.status == "succeeded" and charge.amount == 1250
    refund = run(sandbox.url, "stripe-refund", charge.id, "--amount", "250")
    assert refund.exit_code == 0 and "2.50 USD of charge" in refund.output and "(2.50 USD of 12.50 USD" in refund.output
    rest = run(sandbox.url, "stripe-refund", "i1")  # by the catalog's invoice id: the charge that paid it
    assert rest.exit_code == 0 and "(12.50 USD of 12.50 USD refunded)" in rest.output
    again = run(sandbox.url, "stripe-refund", invoice.id)
    assert again.exit_code == 1 and "(charge_already_refunded)" in again.output and "Traceback" not in again.output
    events = [e for e in client.v1.events.list({"limit": 100}).data if e.type.startswith("charge.")]
    assert all(not (e.request.idempotency_key or "").startswith("zensync") for e in events)


def test_a_declined_card_and_nothing_to_pay_are_one_line_each(sandbox, client) -> None:
    invoice = open_invoice(client)
    declined = run(sandbox.url, "stripe-pay", invoice.id, "--card", "pm_card_chargeDeclined")
    assert declined.exit_code == 1 and declined.output.strip().endswith("(card_declined)")
    assert len(declined.output.strip().splitlines()) == 1
    assert run(sandbox.url, "stripe-pay", "--out-of-band", invoice.id).exit_code == 0
    nothing = run(sandbox.url, "stripe-pay")
    assert nothing.exit_code == 1 and "no open invoice to pay" in nothing.output
    unpaid = run(sandbox.url, "stripe-refund", invoice.id)  # paid out of band: no card payment
    assert unpaid.exit_code == 1 and "has no card payment to refund" in unpaid.output
