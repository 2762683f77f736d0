"""`zensync sandbox ...`: the local stand-ins for Stripe and Salesforce."""

import click

from .sandbox_salesforce import command as salesforce_command
from .sandbox_salesforce_edit import command as salesforce_edit_command
from .sandbox_stripe import command as stripe_command
from .sandbox_stripe_edit import pay_command as stripe_pay_command, refund_command as stripe_refund_command


@click.group()
def sandbox() -> None:
    """Serve a local, stateful stand-in for an external system on 127.0.0.1."""


sandbox.add_command(stripe_command)
sandbox.add_command(salesforce_command)
sandbox.add_command(salesforce_edit_command)
sandbox.add_command(stripe_pay_command)
sandbox.add_command(stripe_refund_command)
