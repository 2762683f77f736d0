"""The no-op endpoint the receiver is measured against: the same server stack (`inbound/server.py`: uvicorn with
the receiver's protocol and settings, Starlette, the same number of workers) whose routes read the body and
answer what the receiver answers, storing nothing. `python -m benchmarks.noop_receiver PORT WORKERS`."""

from __future__ import annotations

import sys

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from zensync_pipelines.inbound.server import ServerSettings, serve
from zensync_pipelines.systems.salesforce.outbound import CONTENT_TYPE, ack


def create_app() -> Starlette:
    async def stripe(request: Request) -> JSONResponse:
        await request.body()
        return JSONResponse({"stored": 1})

    async def salesforce(request: Request) -> Response:
        await request.body()
        return Response(ack(), media_type=CONTENT_TYPE)

    async def healthz(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(routes=[Route("/webhooks/stripe", stripe, methods=["POST"]),
                             Route("/webhooks/salesforce/{token}", salesforce, methods=["POST"]),
                             Route("/healthz", healthz)])


if __name__ == "__main__":
    port, workers = int(sys.argv[1]), int(sys.argv[2])
    serve("benchmarks.noop_receiver:create_app", ServerSettings(port=port, workers=workers), log_level="warning")
