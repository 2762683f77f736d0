"""On a machine with only Python: no ZENSYNC_TEST_POSTGRES_URL and nothing on the local port, the tests start a
throwaway PostgreSQL (the pgserver wheel) for the session, run against it, and stop it at the end."""

import os
import subprocess
import sys
import time
from pathlib import Path

from ..conftest import free_port

ROOT = Path(__file__).resolve().parents[2]

INNER = '''
import os
from pathlib import Path

from sqlalchemy import text

from zensync_pipelines.store import migrate
from zensync_pipelines.store.db import make_engine


def test_a_schema_of_its_own_on_the_throwaway_server(postgres_url, postgres_server):
    engine = make_engine(postgres_url)
    migrate.upgrade(engine)  # zensync's tables, in this test's schema
    with engine.connect() as connection:
        assert connection.execute(text("select current_schema()")).scalar().startswith("zs_")
        pid = connection.execute(text("select pg_backend_pid()")).scalar()
        data = connection.execute(text("show data_directory")).scalar()
        postmaster = int(Path(data, "postmaster.pid").read_text().split()[0])
    engine.dispose()
    Path(os.environ["INNER_REPORT"]).write_text(f"{postgres_server}\\n{data}\\n{postmaster}\\n{pid}")
'''


def test_without_a_server_the_tests_start_and_stop_a_throwaway_postgresql(tmp_path):
    (tmp_path / "test_inner.py").write_text(INNER)
    report = tmp_path / "report.txt"
    env = {k: v for k, v in os.environ.items() if k != "ZENSYNC_TEST_POSTGRES_URL"}
    env |= {"ZENSYNC_TEST_POSTGRES_PORT": str(free_port()),  # nothing listens there
            "INNER_REPORT": str(report),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "zensync_pipelines_tests.conftest",
                           "-p", "no:cacheprovider", str(tmp_path / "test_inner.py")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "1 passed" in done.stdout and "skipped" not in done.stdout
    server, data, postmaster, _ = report.read_text().split("\n")
    assert "127.0.0.1" not in server and "host=" in server  # its own unix socket, not a local server
    assert not Path(data).exists()  # stopped and removed at the end of the session
    assert not running(int(postmaster))


def running(pid: int, within: float = 10.0) -> bool:
    """Whether `pid` still runs after up to `within` seconds of shutdown; a zombie (exited, not yet reaped by
    an init that does not reap) has stopped."""
    deadline = time.monotonic() + within
    while True:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (FileNotFoundError, ProcessLookupError):
            return False
        if state == "Z":
            return False
        if time.monotonic() > deadline:
            return True
        time.sleep(0.2)
