"""One real `zensync dev` for the live tests: catalog, sandboxes, dagster webserver and daemon, sensors on."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest
import requests

from zensync_pipelines.cli.dev import SANDBOX_STRIPE_KEY

from ..conftest import free_port, wait_for_port

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CUSTOMERS = 40


class DevServer:
    def __init__(self, data: Path, port: int, stripe_port: int, log: Path):
        self.data, self.port, self.stripe_port, self.log = data, port, stripe_port, log
        self.url = f"http://127.0.0.1:{port}"
        self.stripe_url = f"http://127.0.0.1:{stripe_port}"
        self.database_url = f"sqlite:///{data / 'catalog.db'}"

    def graphql(self, query: str, **variables: Any) -> dict:
        reply = requests.post(f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=30)
        reply.raise_for_status()
        body = reply.json()
        assert "errors" not in body, body
        return body["data"]

    def location(self) -> str:
        data = self.graphql("{ workspaceOrError { ... on Workspace { locationEntries { name "
                            "locationOrLoadError { __typename } } } } }")
        [entry] = data["workspaceOrError"]["locationEntries"]
        assert entry["locationOrLoadError"]["__typename"] == "RepositoryLocation", entry
        return entry["name"]

    def logs(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def wait_until(condition, timeout: float, what: str, interval: float = 1.0, server: DevServer | None = None):
    """Poll for an outcome; the timeout is a generous bound on a hang, not a performance assertion."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = condition()
            if value:
                return value
        except Exception as error:  # noqa: BLE001 - the server may still be starting
            last_error = error
        time.sleep(interval)
    raise AssertionError(f"{what} did not happen within {timeout}s (last error: {last_error!r})"
                         + (f"\n--- zensync dev log ---\n{server.logs()}" if server else ""))


@pytest.fixture(scope="session")
def zensync_dev(tmp_path_factory) -> Iterator[DevServer]:
    data = tmp_path_factory.mktemp("zensync-dev")
    ARTIFACTS.mkdir(exist_ok=True)
    server = DevServer(data, free_port(), free_port(), ARTIFACTS / "zensync-dev.log")
    # PYTHONPATH: the code under test, not whichever checkout the venv installed in editable mode.
    env = dict(os.environ, ZENSYNC_DATA_DIR=str(data), ZENSYNC_SENSOR_INTERVAL_SECONDS="2", TMPDIR=str(data),
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    for inherited in ("ZENSYNC_DATABASE_URL", "ZENSYNC_SENSORS_DEFAULT", "DAGSTER_HOME"):
        env.pop(inherited, None)  # zensync dev's own defaults are under test: sensors on, embedded catalog
    command = [sys.executable, "-m", "zensync_pipelines.cli", "dev", "--port", str(server.port),
               "--stripe-port", str(server.stripe_port), "--salesforce-port", str(free_port()),
               "--webhook-port", str(free_port()), "--customers", str(CUSTOMERS)]
    with server.log.open("w") as log:
        # Its own session: the test stops the whole tree, and no terminal signal reaches it by accident.
        # From the repository root, as a user of a clone would: its dagster.yaml must not get in the way.
        process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        wait_for_port(server.port, process, timeout=120)
        wait_until(server.location, 120, "the code location loading", server=server)
        yield server
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGINT)  # zensync dev's own Ctrl-C path
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


NO_CHROMIUM = ("no Chromium for the UI test: put one on the PATH (Debian/Ubuntu: apt-get install chromium) or "
               "run `python -m playwright install chromium`")


def find_chromium() -> str | None:
    """A Chromium on the PATH, else the one `playwright install chromium` downloads, else None."""
    import shutil

    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        own = playwright.chromium.executable_path
    return own if own and Path(own).exists() else None


@pytest.fixture(scope="session")
def chromium() -> str:
    found = find_chromium()
    if found is None:
        pytest.fail(NO_CHROMIUM, pytrace=False)
    return found


@pytest.fixture(scope="session")
def stripe_key() -> str:
    return SANDBOX_STRIPE_KEY
