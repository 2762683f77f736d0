"""`zensync sandbox salesforce`: serve the Salesforce stand-in in the foreground until Ctrl-C."""

from __future__ import annotations

import re
import sys
import time
from typing import Optional, Sequence

import click

from . import preflight
from .signals import stop_on_interrupt_or_term
from ..sandbox.salesforce.server import SalesforceSandbox


@click.command("salesforce")
@click.option("--port", type=int, default=0, show_default=True, help="TCP port on 127.0.0.1 (0 picks a free one).")
@click.option("--latency-ms", type=float, default=0.0, show_default=True, help="Delay added to every API call.")
@click.option("--fault-rate", type=float, default=0.0, show_default=True,
              help="Probability that an API call (or a record in Collections/Bulk) fails with an injected fault.")
@click.option("--daily-api-limit", type=int, default=15000, show_default=True,
              help="API calls allowed per rolling 24 h before REQUEST_LIMIT_EXCEEDED.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed that makes injected faults reproducible.")
@click.option("--data", "data_file", type=click.Path(dir_okay=False), default=None,
              help="JSON file that keeps the org's records across restarts (in memory when omitted).")
@click.option("--ca-file", type=click.Path(dir_okay=False), default=None,
              help="Where to write the CA certificate clients must trust (a temp file when omitted).")
@click.option("--schema", "schema_file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="sObject schema JSON (defaults to the packaged Account/Contact/Invoice__c schema).")
@click.option("--bulk-processing-seconds", type=float, default=0.0, show_default=True,
              help="How long a closed Bulk 2.0 job stays InProgress before it is processed.")
@click.option("--require-credentials", is_flag=True,
              help="Accept only the credentials given below (by default any login is accepted), so a wrong "
                   "password or client secret can be tried.")
@click.option("--username", envvar="SANDBOX_SALESFORCE_USERNAME", default=None, help="Expected username.")
@click.option("--password", envvar="SANDBOX_SALESFORCE_PASSWORD", default=None,
              help="Expected password (SOAP and OAuth password logins).")
@click.option("--security-token", envvar="SANDBOX_SALESFORCE_SECURITY_TOKEN", default="",
              help="Expected security token, appended to the password as Salesforce does.")
@click.option("--client-id", default=None, help="Expected connected-app client id (OAuth).")
@click.option("--client-secret", envvar="SANDBOX_SALESFORCE_CLIENT_SECRET", default=None,
              help="Expected connected-app client secret (OAuth).")
@click.option("--outbound-url", "outbound_urls", multiple=True, metavar="[OBJECT=]URL",
              help="Send outbound messages for OBJECT's creates and updates to URL, as a workflow rule with an "
                   "outbound message does; a bare URL covers Account and Contact. Repeatable.")
@click.option("--outbound-base-delay", type=float, default=30.0, show_default=True,
              help="Seconds before the first resend of an unacknowledged outbound message; doubles per attempt.")
def command(port: int, latency_ms: float, fault_rate: float, daily_api_limit: int, seed: int,
            data_file: Optional[str], ca_file: Optional[str], schema_file: Optional[str],
            bulk_processing_seconds: float, require_credentials: bool, username: Optional[str],
            password: Optional[str], security_token: str, client_id: Optional[str],
            client_secret: Optional[str], outbound_urls: Sequence[str], outbound_base_delay: float) -> None:
    """Run a local HTTPS stand-in for Salesforce (REST, SOQL, Collections, Composite, Bulk 2.0, outbound
    messages)."""
    expected = {"username": username, "password": password, "client_id": client_id, "client_secret": client_secret}
    if require_credentials and not any(expected.values()):
        raise click.UsageError("--require-credentials needs what to require: --username and --password (SOAP, "
                               "OAuth password) and/or --client-id and --client-secret (OAuth)")
    if not require_credentials and any(expected.values()):
        raise click.UsageError("--username, --password, --client-id and --client-secret only apply with "
                               "--require-credentials")
    if port:
        preflight.free_port(port, "Salesforce sandbox", "--port")
    try:
        urls = parse_outbound_urls(outbound_urls)
        sandbox = SalesforceSandbox(port=port, ca_file=ca_file, latency_ms=latency_ms, fault_rate=fault_rate,
                                    daily_api_limit=daily_api_limit, seed=seed, data_file=data_file,
                                    schema_file=schema_file, bulk_processing_seconds=bulk_processing_seconds,
                                    outbound_urls=urls)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--outbound-url") from None
    sandbox.configure(outbound_base_delay=outbound_base_delay)
    if require_credentials:
        sandbox.require_credentials(username, password, security_token, client_id, client_secret)
    # SIGTERM (docker stop, a supervisor) must flush --data like Ctrl-C does, not kill the process mid-write; and
    # Ctrl-C must work also when started as a background job, with SIGINT ignored (cli/signals.py).
    stop_on_interrupt_or_term()
    sandbox.start()
    try:
        click.echo(f"Salesforce sandbox listening on {sandbox.url}")
        click.echo(f"CA certificate: {sandbox.ca_file} (set session.verify or REQUESTS_CA_BUNDLE to it)")
        click.echo("Get a session: POST {0}/services/oauth2/token or {0}/_sandbox/session".format(sandbox.url))
        for name, url in sorted(sandbox.outbound.urls.items()):
            click.echo(f"Outbound messages for {name} -> {url}")
        sys.stdout.flush()  # a parent process reads these lines through a pipe to learn the port
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        click.echo("stopping")
    finally:
        sandbox.stop()


def parse_outbound_urls(values: Sequence[str]) -> dict[str, str]:
    """`Account=https://...` for one object, a bare URL for all (`*`); a URL's own `=` (a query) is kept."""
    urls = {}
    for value in values:
        found = re.match(r"^(\w+)=(.+)$", value)
        name, url = (found.group(1), found.group(2)) if found else ("*", value)
        if not re.match(r"^https?://", url):
            raise ValueError(f"{value!r} is not [OBJECT=]http(s)://...")
        urls[name] = url
    return urls
