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
def serve(host: str, port: int, max_body_kb: int) -> None:
    """Serve POST /webhooks/stripe (signed with STRIPE_WEBHOOK_SECRET), POST /webhooks/salesforce[/<token>]
    (outbound messages of the org SALESFORCE_ORGANIZATION_ID) and GET /healthz."""
    import uvicorn

    from ..catalogs import load_specs
    from ..store import migrate
    from ..store.db import make_engine, redact
    from ..inbound.app import ReceiverContext, build_app

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    url = config.database_url()
    engine = make_engine(url)
    try:
        migrate.upgrade(engine)
    except Exception as error:  # started while the database is down: serve anyway, answering 503 until it is up
        click.echo(f"zensync tables not checked ({type(error).__name__}); events get 503 until the database "
                   f"answers", err=True)
    try:
        app = build_app(ReceiverContext(engine, load_specs(), max_body_kb * 1024))
    except RuntimeError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"zensync webhooks on http://{host}:{port} -> inbox in {redact(url)}")
    uvicorn.run(app, host=host, port=port, log_level="info", access_log=False)
