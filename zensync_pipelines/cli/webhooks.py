"""`zensync webhooks serve`: the receiver on uvicorn."""

from __future__ import annotations

import logging

import click

from .. import config


@click.group()
def webhooks() -> None:
    """Receive changes that external systems push (Stripe webhooks) into zensync's inbox."""


@webhooks.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", type=int, default=8787, show_default=True, help="Port to listen on.")
@click.option("--max-body-kb", type=click.IntRange(min=1), default=1024, show_default=True,
              help="Larger bodies are refused with 413.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Worker processes sharing the port (one per core is the most that helps).")
@click.option("--header-timeout", type=click.FloatRange(min=0.1), default=10.0, show_default=True,
              help="Seconds a request has to send its line and headers; then the connection is closed.")
@click.option("--body-timeout", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="Seconds a request has to send its body after its headers; then 408 and closed.")
@click.option("--keep-alive", type=click.FloatRange(min=1), default=5.0, show_default=True,
              help="Seconds an idle kept-alive connection stays open.")
@click.option("--max-connections", type=click.IntRange(min=1), default=2048, show_default=True,
              help="Open connections above which requests are answered 503.")
@click.option("--shutdown-timeout", type=click.FloatRange(min=0), default=10.0, show_default=True,
              help="Seconds deliveries in flight get to finish on SIGTERM; then they are cut (and sent again).")
def serve(host: str, port: int, max_body_kb: int, workers: int, header_timeout: float, body_timeout: float,
          keep_alive: float, max_connections: int, shutdown_timeout: float) -> None:
    """Serve POST /webhooks/stripe (signed with STRIPE_WEBHOOK_SECRET), POST /webhooks/salesforce[/<token>]
    (outbound messages of the org SALESFORCE_ORGANIZATION_ID) and GET /healthz."""
    import os

    from ..catalogs import load_specs
    from ..store import migrate
    from ..store.db import make_engine, redact
    from ..inbound.app import MAX_BODY_ENV, ReceiverContext, build_app
    from ..inbound.server import ServerSettings, serve as run_server

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    url = config.database_url()
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
    except Exception as error:  # started while the database is down: serve anyway, answering 503 until it is up
        click.echo(f"zensync tables not checked ({type(error).__name__}); events get 503 until the database "
                   f"answers", err=True)
    try:
        build_app(ReceiverContext(engine, load_specs()))  # a missing secret or a bad setting fails here, once
        settings = ServerSettings(host, port, workers, header_timeout, body_timeout, keep_alive, max_connections,
                                  ServerSettings.proxies_from_env(), shutdown_timeout)
    except (RuntimeError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    engine.dispose()
    os.environ[MAX_BODY_ENV] = str(max_body_kb * 1024)
    click.echo(f"zensync webhooks on http://{host}:{port} ({workers} worker{'s' if workers > 1 else ''}) -> "
               f"inbox in {redact(url)}")
    run_server("zensync_pipelines.inbound.app:app_from_env", settings)
