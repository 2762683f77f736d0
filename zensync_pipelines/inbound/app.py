"""The receiver's ASGI app: one route per system that pushes changes, plus /healthz.

Every system route follows one contract: refuse what is not provably from the system (4xx, nothing stored),
store what a spec reads in the inbox, and answer 2xx only after that commit; when the database cannot take it,
answer 5xx so the system delivers again. An acknowledged event is never lost. A system joins by adding a
`Receiver` to RECEIVERS (its module builds its routes from the environment).
"""

from __future__ import annotations

from typing import Optional, Sequence

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .receiver import Receiver, ReceiverContext
from .salesforce import RECEIVER as SALESFORCE
from .stripe import RECEIVER as STRIPE

__all__ = ["Receiver", "ReceiverContext", "build_app"]  # the names tests and `zensync dev` import from here
RECEIVERS = [STRIPE, SALESFORCE]


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
        def database() -> str:
            try:
                with context.engine.connect() as connection:
                    connection.execute(text("SELECT 1"))
                return "ok"
            except Exception:
                return "unreachable"

        return JSONResponse({"status": "ok", "receivers": mounted, "database": await run_in_threadpool(database)})

    return Starlette(routes=[Route("/healthz", healthz, methods=["GET"]), *routes])
