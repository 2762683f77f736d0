"""`zensync sandbox stripe`: serve the Stripe sandbox in the foreground until Ctrl-C or SIGTERM."""

from __future__ import annotations

from typing import Optional

import click

from . import preflight
from .signals import stop_on_interrupt_or_term
from ..sandbox.stripe.server import StripeSandbox


@click.command("stripe")
@click.option("--port", default=12111, show_default=True, help="Port on 127.0.0.1 (0 picks a free one).")
@click.option("--latency-ms", default=0.0, show_default=True, help="Added latency per request.")
@click.option("--rate-limit", default=25.0, show_default=True, help="Requests per second; 0 for unlimited.")
@click.option("--fault-rate", default=0.0, show_default=True, help="Probability that a request fails.")
@click.option("--seed", default=0, show_default=True, help="Seed for ids, faults and webhook shuffling.")
@click.option("--data", "data_file", type=click.Path(dir_okay=False), default=None,
              help="JSON file that keeps the state across restarts.")
@click.option("--search-lag", default=0.0, show_default=True, help="Seconds before a write becomes searchable.")
def command(port: int, latency_ms: float, rate_limit: float, fault_rate: float, seed: int,
            data_file: Optional[str], search_lag: float) -> None:
    """Serve a local stand-in for the Stripe API (point the SDK's base_addresses["api"] at the printed URL)."""
    if port:
        preflight.free_port(port, "Stripe sandbox", "--port")
    sandbox = StripeSandbox(port=port, latency_ms=latency_ms, rate_limit=rate_limit or None, fault_rate=fault_rate,
                            seed=seed, data_file=data_file, search_lag_seconds=search_lag)
    sandbox.start()
    # Ctrl-C, and the SIGTERM of `kill`, systemd and supervisors, take one way out, so the data file gets every
    # write a client saw confirmed (cli/signals.py: also when started with SIGINT ignored, as a background job).
    stop_on_interrupt_or_term()
    click.echo(f"Stripe sandbox listening on {sandbox.url} (any sk_test_... key; Ctrl-C to stop)", err=False)
    try:
        sandbox.wait()
    except KeyboardInterrupt:
        pass
    finally:
        sandbox.stop()
