"""The receiver's ASGI app: one route per system that pushes changes, plus /healthz.

Every system route follows one contract: refuse what is not provably from the system (4xx, nothing stored),
store what a spec reads in the inbox, and answer 2xx only after that commit; when the database cannot take it,
answer 5xx so the system delivers again. An acknowledged event is never lost. A system joins by adding a
`Receiver` to RECEIVERS (its module builds its routes from the environment).
"""

from __future__ import annotations

import os
from typing import Optional, Sequence

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from . import logs
from .logs import refuse
from .receiver import MAX_BODY_BYTES, Receiver, ReceiverContext
from .salesforce import RECEIVER as SALESFORCE
from .stripe import RECEIVER as STRIPE

__all__ = ["Receiver", "ReceiverContext", "build_app"]  # the names tests and `zensync dev` import from here
RECEIVERS = [STRIPE, SALESFORCE]
# `zensync webhooks serve` passes its --max-body-kb to the worker processes, which build their app from the
# environment (app_from_env), through this variable.
MAX_BODY_ENV = "_ZENSYNC_WEBHOOKS_MAX_BODY_BYTES"


def build_app(context: ReceiverContext, receivers: Optional[Sequence[Receiver]] = None) -> Starlette:
    routes: list[Route] = []
    mounted = []
    for receiver in receivers if receivers is not None else RECEIVERS:
        built = receiver.build(context)
        if built:
            routes += built
            mounted.append(receiver.system)
    if not mounted:
        raise RuntimeError("no webhook receiver is configured: set STRIPE_WEBHOOK_SECRET and/or "
                           "SALESFORCE_ORGANIZATION_ID")

    async def healthz(request: Request) -> JSONResponse:
        """200 when every part a delivery needs answers; 503 naming the part that does not, so a load balancer
        stops sending deliveries that could only be refused."""
        def database() -> str:
            try:
                with context.engine.connect() as connection:
                    connection.execute(text("SELECT 1"))
                return "ok"
            except Exception as error:  # the error's text may hold the URL: its type is enough for an operator
                return f"unreachable ({type(error).__name__})"

        status = await run_in_threadpool(database)
        if status != "ok":
            refuse(request, f"database {status}")
        return JSONResponse({"status": "ok" if status == "ok" else "unavailable", "receivers": mounted,
                             "database": status}, status_code=200 if status == "ok" else 503)

    logs.install()
    app = Starlette(routes=[Route("/healthz", healthz, methods=["GET"]), *routes],
                    middleware=[Middleware(logs.RefusalLog)])
    # Starlette answers `/webhooks/stripe/` with a redirect whose Location it builds from the Host header: a
    # client could make the receiver point anywhere. A path is served as routed, or is a 404.
    app.router.redirect_slashes = False
    return app


def app_from_env() -> Starlette:
    """The app as a worker process builds it: settings from the environment, its own database pool."""
    from .. import config
    from ..catalogs import load_specs
    from ..store.db import make_engine

    engine = make_engine(config.database_url(), pre_ping=False)
    return build_app(ReceiverContext(engine, load_specs(), int(os.environ.get(MAX_BODY_ENV) or MAX_BODY_BYTES)))
