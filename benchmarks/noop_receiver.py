"""The no-op endpoint the receiver is measured against: the same server stack (`inbound/server.py`: uvicorn with
the receiver's protocol and settings, Starlette, the same number of workers) whose routes read the body and
answer what the receiver answers, storing nothing. `python -m benchmarks.noop_receiver PORT WORKERS`.

`create_app(keep)` is also the commit floor's app (commit_floor.py): the same routes, each body handed to `keep`
(system, body -> how many events were new) before the answer."""

from __future__ import annotations

import sys
from typing import Awaitable, Callable, Optional

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from zensync_pipelines.inbound.receiver import stored_response
from zensync_pipelines.inbound.server import ServerSettings, serve
from zensync_pipelines.systems.salesforce.outbound import CONTENT_TYPE, ack

Keep = Callable[[str, bytes], Awaitable[int]]


def create_app(keep: Optional[Keep] = None) -> Starlette:
    async def stripe(request: Request) -> Response:
        body = await request.body()
        return stored_response(await keep("stripe", body) if keep else 1)

    async def salesforce(request: Request) -> Response:
        body = await request.body()
        if keep:
            await keep("salesforce", body)
        return Response(ack(), media_type=CONTENT_TYPE)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/webhooks/stripe", stripe, methods=["POST"]),
                             Route("/webhooks/salesforce/{token}", salesforce, methods=["POST"]),
                             Route("/healthz", healthz)])


if __name__ == "__main__":
    port, workers = int(sys.argv[1]), int(sys.argv[2])
    serve("benchmarks.noop_receiver:create_app", ServerSettings(port=port, workers=workers), log_level="warning")
