"""Shared fixtures: catalog databases on SQLite and PostgreSQL, a Stripe sandbox, Dagster resources.

PostgreSQL tests always run, never skip: against ZENSYNC_TEST_POSTGRES_URL when it is set (unreachable: they
fail), else the local server at 127.0.0.1:5432 (ZENSYNC_TEST_POSTGRES_PORT) when one answers there, else a
throwaway PostgreSQL from the `pgserver` wheel (the test extra brings it), started in a temporary folder for the
session and stopped at its end. Each test gets its own schema, dropped afterwards.
"""

from __future__ import annotations

import os
import subprocess
import uuid
import weakref
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest
import stripe
from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url

from zensync_pipelines.store import migrate
from zensync_pipelines.store.db import make_engine

LOCAL_PORT = int(os.environ.get("ZENSYNC_TEST_POSTGRES_PORT") or 5432)
# Tests tick sensors by hand, many idle: a tick that waited for a write (dagster_defs/waking.py, 3 s by default
# in the code location) would only slow them down. automation/test_waking.py sets the wait it tests.
os.environ.setdefault("ZENSYNC_SENSOR_WAIT_SECONDS", "0")
LOCAL_URL = f"postgresql+psycopg2://postgres@127.0.0.1:{LOCAL_PORT}/test"

stripe.enable_telemetry = False

# pytest-xdist's workers run with COLUMNS=80 and LINES=24 in their environment, so every table a command printed
# (and every subprocess it started) was cut to 80 columns there and whole in a serial run. The tests decide the
# width themselves where it matters.
if os.environ.get("PYTEST_XDIST_WORKER"):
    for _name in ("COLUMNS", "LINES"):
        os.environ.pop(_name, None)


# Every PostgreSQL engine a test module made (its own, or the product code's run in this process: CLI commands,
# jobs executed in process), so their pooled idle connections are closed when the module ends. Each engine keeps
# up to its pool size open until garbage-collected; over the ~1,200 tests of one pytest process they added up to
# the server's max_connections (100), and later tests failed with "too many clients". Disposing only closes idle
# connections: an engine still in use (a session fixture's) opens new ones as it needs them.
_ENGINES: "weakref.WeakSet[Engine]" = weakref.WeakSet()


@event.listens_for(Engine, "engine_connect")
def _remember(connection) -> None:
    if connection.engine.dialect.name == "postgresql":  # an in-memory SQLite pool would lose its database
        _ENGINES.add(connection.engine)


@pytest.fixture(autouse=True, scope="module")
def _close_idle_postgres_connections() -> Iterator[None]:
    yield
    for engine in list(_ENGINES):
        engine.dispose(close=True)


def _postgres_schema_url(server: str, schema: str) -> str:
    url = make_url(server)
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


def _answers(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory) -> Iterator[str]:
    """The PostgreSQL server of this session, as a SQLAlchemy URL."""
    if os.environ.get("ZENSYNC_TEST_POSTGRES_URL"):
        yield os.environ["ZENSYNC_TEST_POSTGRES_URL"]
        return
    if _answers(LOCAL_PORT):
        yield LOCAL_URL
        return
    import pgserver  # PostgreSQL 16 binaries in a wheel; it starts even as root, in a folder of its own

    server = pgserver.get_server(tmp_path_factory.mktemp("pgserver"), cleanup_mode="delete")
    try:
        # A unix socket in the data folder: no port to collide with anything else on the machine.
        yield make_url(server.get_uri()).set(drivername="postgresql+psycopg2").render_as_string(hide_password=False)
    finally:
        server.cleanup()


@pytest.fixture(autouse=True)
def _no_leaked_dagster_state_storage() -> Iterator[None]:
    """Dagster keeps the current instance's defs-state storage in a context variable; a context built without an
    instance (e.g. resources initialised for a sensor context) enters an ephemeral one and never leaves it, so
    a later test could meet a storage whose instance was garbage-collected ("undefined DagsterInstance
    weakref"). Each test starts without one and leaves none behind."""
    from dagster._core.storage.defs_state.base import _current_storage

    token = _current_storage.set(None)
    yield
    _current_storage.reset(token)


@pytest.fixture
def postgres_url(postgres_server) -> Iterator[str]:
    schema = f"zs_{uuid.uuid4().hex[:12]}"
    admin = make_engine(postgres_server)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _postgres_schema_url(postgres_server, schema)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'catalog.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request) -> str:
    """The catalog database, once on each backend."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")


@pytest.fixture
def engine(database_url) -> Iterator[Engine]:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()


# The project's shared reference material (Stripe's fixtures, Salesforce's sample outbound message): beside the
# repository in a checkout of the workspace, or at the workspace's fixed path.
SHARED_REFERENCE = next((p for p in (Path(__file__).resolve().parents[2] / "shared" / "reference",
                                     Path("/work/shared/reference")) if p.exists()), Path("/work/shared/reference"))


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_port(port: int, process=None, timeout: float = 20.0) -> None:  # noqa: ANN001
    import socket
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening on {port}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout}s")


@pytest.fixture(scope="session")
def localstripe_server() -> Iterator[str]:
    """localstripe, an independent Stripe stand-in, bound to 127.0.0.1 (its own CLI binds every interface)."""
    import sys

    port = free_port()
    code = ("from aiohttp import web; from localstripe.server import app; "
            f"web.run_app(app, host='127.0.0.1', port={port}, print=None)")
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_for_port(port, process)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        reap(process)


def reap(process: subprocess.Popen, grace: float = 10) -> None:
    """Wait for a process asked to stop; kill it if it has not stopped after `grace` seconds. Never leaves it
    running, whatever the test asserted before."""
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)


@pytest.fixture
def spawn() -> Iterator[Callable[..., subprocess.Popen]]:
    """`spawn(command, **popen_args)` starts a process for this test; at teardown, whatever happened in the test
    (a failed assertion, a timeout waiting for it to stop), every one still running is killed and reaped, so no
    test leaves a server behind after pytest exits."""
    started: list[subprocess.Popen] = []

    def start(command: list[str], **popen_args: Any) -> subprocess.Popen:
        started.append(subprocess.Popen(command, **popen_args))
        return started[-1]

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)


@pytest.fixture
def localstripe_url(localstripe_server) -> str:
    import requests

    requests.delete(f"{localstripe_server}/_config/data", timeout=10).raise_for_status()
    return localstripe_server


@pytest.fixture
def stripe_sandbox():
    """The project's own Stripe sandbox, in process on a free port, without a rate limit unless a test sets one."""
    from zensync_pipelines.sandbox.stripe import StripeSandbox

    with StripeSandbox(rate_limit=None) as sandbox:
        yield sandbox


@pytest.fixture
def stripe_sandbox_url(stripe_sandbox) -> str:
    return stripe_sandbox.url


@pytest.fixture(params=["in-memory batches", "spooled batches"])
def batches(request, monkeypatch):
    """Run a test twice: with the memory system answering whole batches (as Stripe's adapter does),
    and streaming, which makes the engine spool each batch to disk (as for Salesforce's Bulk API)."""
    if request.param == "spooled batches":
        from zensync_pipelines_tests.memory_system import MemorySystem

        monkeypatch.setattr(MemorySystem, "apply_stream", MemorySystem.streaming_apply, raising=False)
    return request.param


# Tests that share one expensive session or module fixture run on one pytest-xdist worker (README runs the suite
# with `-n 3 --dist loadgroup`): spread over three, each worker would start its own `zensync dev` (all writing
# test-artifacts/zensync-dev.log) or its own Celery cluster, three times the processes on a 2-CPU machine.
_SHARED_FIXTURES = {"zensync_dev": "zensync_dev", "cluster": "celery_cluster"}


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist's own hook reads the groups off the items
def pytest_collection_modifyitems(config, items) -> None:  # noqa: ANN001
    for item in items:
        group = next((g for name, g in _SHARED_FIXTURES.items() if name in getattr(item, "fixturenames", ())), None)
        if group:
            item.add_marker(pytest.mark.xdist_group(group))
