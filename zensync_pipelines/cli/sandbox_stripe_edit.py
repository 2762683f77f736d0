"""`zensync sandbox stripe-pay` and `stripe-refund`: pay an open invoice by card, or refund a payment, in a running
Stripe sandbox as a customer or support would (the real SDK, with no zensync idempotency key), so the events reach
the receiver as payments made in Stripe and not as echoes."""

from __future__ import annotations

from typing import Any, Optional

import click
import stripe

from .. import config
from ..catalogs.invoices import ZERO_DECIMAL
from ..sandbox.starters import SANDBOX_STRIPE_KEY

CARDS = ("pm_card_visa", "pm_card_mastercard", "pm_card_amex", "pm_card_chargeDeclined")

url_option = click.option("--url", required=True, envvar=config.STRIPE_API_BASE, show_envvar=True,
                          help="The sandbox's URL (http://127.0.0.1:PORT).")
key_option = click.option("--api-key", default=SANDBOX_STRIPE_KEY, envvar=config.STRIPE_API_KEY,
                          show_envvar=True, show_default=True, help="A key the sandbox accepts.")


def _money(amount: int, currency: str) -> str:
    if currency.lower() in ZERO_DECIMAL:
        return f"{amount} {currency.upper()}"
    return f"{amount / 100:.2f} {currency.upper()}"


def _client(url: str, api_key: str) -> stripe.StripeClient:
    return stripe.StripeClient(api_key, base_addresses={"api": url.rstrip("/")}, max_network_retries=2)


def _tag(invoice: Any) -> Optional[str]:
    return invoice.metadata.to_dict().get("zenskar_id") if invoice.metadata else None


def _invoice(client: stripe.StripeClient, wanted: Optional[str]) -> Any:
    """A Stripe invoice id, a catalog invoice id (its metadata.zenskar_id), or the newest open invoice."""
    if wanted and wanted.startswith("in_"):
        return client.v1.invoices.retrieve(wanted)
    for invoice in client.v1.invoices.list({"limit": 100}).auto_paging_iter():
        if (wanted is None and invoice.status == "open") or \
                (wanted is not None and _tag(invoice) == wanted):
            return invoice
    raise click.ClickException(f"no invoice {wanted!r} in the sandbox" if wanted else "no open invoice to pay")


def _charge(client: stripe.StripeClient, wanted: str) -> Any:
    """A charge id, a payment intent id, or an invoice (as _invoice finds it): the charge that paid it."""
    if wanted.startswith("ch_"):
        return client.v1.charges.retrieve(wanted)
    intent = wanted if wanted.startswith("pi_") else None
    if intent is None:
        invoice = _invoice(client, wanted)
        links = [p for p in client.v1.invoice_payments.list({"invoice": invoice.id}).data if p.status == "paid"]
        if not links:
            raise click.ClickException(f"invoice {invoice.id} has no card payment to refund")
        intent = links[0].payment.payment_intent
    return client.v1.charges.retrieve(client.v1.payment_intents.retrieve(intent).latest_charge)


def _stripe_errors(action: Any) -> Any:
    """A refusal or an unreachable sandbox ends in one line naming Stripe's code, never a traceback."""
    try:
        return action()
    except stripe.StripeError as error:
        code = getattr(error, "code", None)
        raise click.ClickException(f"Stripe refused: {error.user_message or error}" + (f" ({code})" if code else ""))


@click.command("stripe-pay")
@url_option
@key_option
@click.option("--card", type=click.Choice(CARDS), default="pm_card_visa", show_default=True,
              help="A Stripe test payment method: pm_card_chargeDeclined is declined.")
@click.option("--out-of-band", is_flag=True, help="Record a payment made outside Stripe instead of a card.")
@click.argument("invoice", required=False)
def pay_command(url: str, api_key: str, card: str, out_of_band: bool, invoice: Optional[str]) -> None:
    """Pay INVOICE (a Stripe id in_..., or a catalog invoice id; default the newest open invoice) by card.

    Example: zensync sandbox stripe-pay 7 --card pm_card_visa
    """
    client = _client(url, api_key)
    found = _stripe_errors(lambda: _invoice(client, invoice))
    params = {"paid_out_of_band": True} if out_of_band else {"payment_method": card}
    paid = _stripe_errors(lambda: client.v1.invoices.pay(found.id, params))
    how = "out of band" if out_of_band else f"by {card}"
    tag = _tag(paid) or "-"
    click.echo(f"invoice {paid.id} (zenskar id {tag}): {paid.status}, "
               f"{_money(paid.amount_paid, paid.currency)} paid {how}")


@click.command("stripe-refund")
@url_option
@key_option
@click.option("--amount", type=click.IntRange(min=1), help="Minor units (cents); default what is left to refund.")
@click.option("--reason", type=click.Choice(("requested_by_customer", "duplicate", "fraudulent")),
              default="requested_by_customer", show_default=True)
@click.argument("payment")
def refund_command(url: str, api_key: str, amount: Optional[int], reason: str, payment: str) -> None:
    """Refund PAYMENT: a charge ch_..., a payment intent pi_..., or an invoice (in_... or a catalog id) paid by card.

    Example: zensync sandbox stripe-refund 7 --amount 500
    """
    client = _client(url, api_key)
    charge = _stripe_errors(lambda: _charge(client, payment))
    params: dict[str, Any] = {"charge": charge.id, "reason": reason} | ({"amount": amount} if amount else {})
    refund = _stripe_errors(lambda: client.v1.refunds.create(params))
    after = client.v1.charges.retrieve(charge.id)
    click.echo(f"refund {refund.id}: {_money(refund.amount, refund.currency)} of charge {charge.id} "
               f"({_money(after.amount_refunded, after.currency)} of {_money(after.amount, after.currency)} "
               f"refunded)")
