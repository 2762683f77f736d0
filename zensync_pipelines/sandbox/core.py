"""Plumbing shared by the local stand-ins for Stripe and Salesforce.

A threaded HTTP(S) server bound to 127.0.0.1, a small router, and the knobs every sandbox offers (added latency,
injected faults, a token-bucket rate limit, per-endpoint request counters), all deterministic under a seed so that
tests and benchmarks can reproduce a run. The standard library's server is used on purpose: a fault knob must be
able to drop a connection without answering, which an ASGI server does not allow.
"""

from __future__ import annotations

import json
import random
import re
import socket
import ssl
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote
from typing import Any, Callable, Optional
from urllib.parse import parse_qs, urlsplit

from ..engine.ratelimit import TokenBucket  # the same bucket the adapters wait on

HOST = "127.0.0.1"


class _Server(ThreadingHTTPServer):
    # socketserver listens with a backlog of 5. A Stripe run opens one connection per worker thread at once (80 at
    # 200 req/s); on a busy machine the accept loop falls behind, the kernel's queue overflows and it resets the
    # connections it cannot queue, which the SDK retries: extra requests a real API never causes, counted in a
    # run's api_calls. The system's own cap (net.core.somaxconn) bounds this.
    request_queue_size = socket.SOMAXCONN
    daemon_threads = True


class DropConnection(Exception):
    """Raised by a handler to close the socket without any reply (a simulated network failure)."""


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    params: dict[str, str] = field(default_factory=dict)  # path parameters filled by the router
    context: dict[str, Any] = field(default_factory=dict)  # per-request state a hook hands on (e.g. a request id)

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def header(self, name: str, default: Optional[str] = None) -> Optional[str]:
        return self.headers.get(name.lower(), default)


@dataclass
class Response:
    status: int = 200
    body: Any = None  # dict/list -> JSON, str/bytes sent as is
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"

    def encode(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


Handler = Callable[[Request], Response]


class Router:
    """Maps (method, path pattern) to a handler; `{name}` in a pattern matches one path segment."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], str, Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "/?$")
        self._routes.append((method.upper(), regex, pattern, handler))

    def route(self, method: str, pattern: str) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.add(method, pattern, handler)
            return handler

        return register

    def match(self, method: str, path: str) -> tuple[Optional[Handler], str, dict[str, str], bool]:
        """Return (handler, pattern, params, path_known); path_known tells 404 from 405."""
        path_known = False
        for route_method, regex, pattern, handler in self._routes:
            found = regex.match(path)
            if found:
                path_known = True
                if route_method == method:
                    # A segment arrives percent-encoded (simple-salesforce quotes an external id: `7%3Amonthly`).
                    return handler, pattern, {k: unquote(v) for k, v in found.groupdict().items()}, True
        return None, "", {}, path_known


@dataclass
class Knobs:
    """Behaviour a test or benchmark dials in; change them at run time through `Sandbox.configure`."""

    latency_ms: float = 0.0
    fault_rate: float = 0.0  # probability that a request fails with one of the sandbox's fault kinds
    rate_limit: Optional[float] = None  # requests per second, None for unlimited
    seed: int = 0


class Counters:
    """Requests served, per (method, route pattern), so benchmarks can count API calls exactly."""

    def __init__(self) -> None:
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, key: str) -> None:
        with self._lock:
            self._counts[key] += 1

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def total(self) -> int:
        with self._lock:
            return sum(self._counts.values())

    def reset(self) -> None:
        with self._lock:
            self._counts.clear()


class Sandbox:
    """Base of a stand-in: owns knobs, counters, the seeded RNG and the HTTP server.

    Subclasses register routes on `self.router` and may override `before_request` (auth, rate limits, faults)
    and `after_request` (vendor headers). Control endpoints under `/_sandbox/` let another process (a benchmark,
    `zensync dev`) read counters, reset them and change knobs.
    """

    # How often the serving thread checks for `stop()`; stop() waits up to this long, which adds up over a test
    # suite that starts a sandbox per test.
    poll_interval: float = 0.05

    def __init__(self, knobs: Optional[Knobs] = None, port: int = 0, ssl_context: Optional[ssl.SSLContext] = None,
                 clock: Callable[[], float] = time.monotonic):
        self.knobs = knobs or Knobs()
        self._bucket_clock = clock  # a test's manual clock makes rate limiting exact
        self.counters = Counters()
        self.router = Router()
        self._rng = random.Random(self.knobs.seed)
        self._rng_lock = threading.Lock()
        self._bucket = TokenBucket(self.knobs.rate_limit, clock=self._bucket_clock) if self.knobs.rate_limit else None
        self._port = port
        self._ssl_context = ssl_context
        self._server: Optional[ThreadingHTTPServer] = None
        self._thread: Optional[threading.Thread] = None
        self.router.add("GET", "/_sandbox/counters", lambda r: Response(body=self.counters.snapshot()))
        self.router.add("POST", "/_sandbox/reset", self._reset_counters)
        self.router.add("POST", "/_sandbox/knobs", lambda r: Response(body=self.configure(**(r.json() or {}))))

    # -- knobs -------------------------------------------------------------------------------------------------
    def configure(self, **changes: Any) -> dict[str, Any]:
        for name, value in changes.items():
            if not hasattr(self.knobs, name):
                raise ValueError(f"unknown sandbox knob {name!r}")
            setattr(self.knobs, name, value)
        if "seed" in changes:
            with self._rng_lock:
                self._rng = random.Random(self.knobs.seed)
        if "rate_limit" in changes:
            self._bucket = (TokenBucket(self.knobs.rate_limit, clock=self._bucket_clock) if self.knobs.rate_limit
                            else None)
        return vars(self.knobs).copy()

    def random(self) -> float:
        with self._rng_lock:
            return self._rng.random()

    def choice(self, options: list[Any]) -> Any:
        with self._rng_lock:
            return self._rng.choice(options)

    def rate_limited(self) -> bool:
        return self._bucket is not None and not self._bucket.try_acquire()

    def faulted(self) -> bool:
        return self.knobs.fault_rate > 0 and self.random() < self.knobs.fault_rate

    def _reset_counters(self, request: Request) -> Response:
        self.counters.reset()
        return Response(body={"reset": True})

    # -- hooks for subclasses ----------------------------------------------------------------------------------
    def before_request(self, request: Request, pattern: str) -> Optional[Response]:
        """Return a response to short-circuit the handler (auth failure, rate limit, injected fault)."""
        return None

    def after_request(self, request: Request, response: Response) -> Response:
        return response

    def not_found(self, request: Request, path_known: bool) -> Response:
        status = 405 if path_known else 404
        return Response(status, {"error": f"no route for {request.method} {request.path}"})

    def handle_error(self, request: Request, error: Exception) -> Response:
        return Response(500, {"error": f"{type(error).__name__}: {error}"})

    # -- request cycle -----------------------------------------------------------------------------------------
    def dispatch(self, request: Request) -> Response:
        if self._server is None:
            raise DropConnection()  # stopped: a client's kept-alive connection must see the outage too
        handler, pattern, params, path_known = self.router.match(request.method, request.path)
        if pattern.startswith("/_sandbox/"):
            return handler(request)  # control endpoints bypass latency, faults and counters
        if self.knobs.latency_ms:
            time.sleep(self.knobs.latency_ms / 1000.0)
        self.counters.add(f"{request.method} {pattern or request.path}")
        if handler is None:
            return self.after_request(request, self.not_found(request, path_known))
        request.params = params
        try:
            response = self.before_request(request, pattern) or handler(request)
        except DropConnection:
            raise
        except Exception as error:  # an unexpected bug must still answer, like the vendor's 500
            response = self.handle_error(request, error)
        return self.after_request(request, response)

    # -- serving -----------------------------------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._server is not None, "sandbox not started"
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        scheme = "https" if self._ssl_context else "http"
        return f"{scheme}://{HOST}:{self.port}"

    def start(self) -> "Sandbox":
        sandbox = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body leave in separate writes; with Nagle on, each reply waits ~40 ms for a delayed ACK.
            disable_nagle_algorithm = True

            def _serve(self) -> None:
                split = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                if len(body) < length:
                    # The client died mid-request (kill -9): a real API never acts on half a body.
                    self.close_connection = True
                    return
                request = Request(
                    method=self.command,
                    path=split.path,
                    query=parse_qs(split.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                try:
                    response = sandbox.dispatch(request)
                except DropConnection:
                    self.close_connection = True
                    return
                payload = response.encode()
                self.send_response(response.status)
                if payload or response.status not in (204, 304):
                    self.send_header("Content-Type", response.content_type)
                for name, value in response.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if payload:
                    self.wfile.write(payload)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass  # request logs would drown test output; counters carry the useful part

        server = _Server((HOST, self._port), _Handler)
        if self._ssl_context is not None:
            server.socket = self._ssl_context.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": self.poll_interval},
                                        name=type(self).__name__, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def serve_forever(self) -> None:
        """Serve in the foreground until interrupted (the CLI's mode)."""
        self.start()
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass
        finally:
            self.stop()

    def __enter__(self) -> "Sandbox":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
