"""How `zensync dev` stops dagster dev on Ctrl-C (cli/dev.py `supervise`), with real processes and signals.

The supervisor runs in a process of its own (signals must reach it, not pytest), its child stands in for dagster
dev: one that takes a few seconds to stop in order, one that ignores SIGINT and stops on SIGTERM, one deaf to both.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

SUPERVISOR = textwrap.dedent("""
    import subprocess, sys
    from zensync_pipelines.cli.dev import supervise
    child = subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]], start_new_session=True)
    print(child.pid, flush=True)
    print("code", supervise(child, lambda: None, stop_seconds=float(sys.argv[3])), flush=True)
""")
# Each child writes `<dir>/ready` once its handlers are in place, and `<dir>/stopped` when it ends in order.
ORDERLY = textwrap.dedent("""
    import pathlib, signal, sys, time
    here = pathlib.Path(sys.argv[1])
    def stop(*_):
        time.sleep(3)  # an orderly stop longer than a second, as dagster dev's is with a daemon and code servers
        (here / "stopped").write_text("stopped")
        sys.exit(0)
    signal.signal(signal.SIGINT, stop)
    (here / "ready").write_text("ready")
    while True:
        time.sleep(0.1)
""")


def _idle_child(on_sigint: str, on_sigterm: str) -> str:
    """A child that idles with these SIGINT and SIGTERM handlers."""
    return textwrap.dedent(f"""
        import pathlib, signal, sys, time
        here = pathlib.Path(sys.argv[1])
        signal.signal(signal.SIGINT, {on_sigint})
        signal.signal(signal.SIGTERM, {on_sigterm})
        (here / "ready").write_text("ready")
        while True:
            time.sleep(0.1)
    """)


HURRIED = _idle_child("signal.SIG_IGN", "lambda *_: sys.exit(3)")
DEAF = _idle_child("signal.SIG_IGN", "signal.SIG_IGN")


def _start(child: str, where: Path, stop_seconds: float) -> tuple[subprocess.Popen, int]:
    supervisor = subprocess.Popen([sys.executable, "-c", SUPERVISOR, child, str(where), str(stop_seconds)],
                                  cwd=ROOT, stdout=subprocess.PIPE, text=True)
    child_pid = int(supervisor.stdout.readline())
    deadline = time.monotonic() + 30
    while not (where / "ready").exists():
        assert time.monotonic() < deadline, "the child never installed its signal handlers"
        time.sleep(0.05)
    return supervisor, child_pid


def _finish(supervisor: subprocess.Popen) -> str:
    out = supervisor.communicate(timeout=60)[0]
    assert supervisor.returncode == 0, out
    return out.strip()


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"


def test_ctrl_c_lets_the_child_end_in_order_even_when_that_takes_seconds(tmp_path):
    supervisor, child = _start(ORDERLY, tmp_path, stop_seconds=30)
    began = time.monotonic()
    supervisor.send_signal(signal.SIGINT)
    assert _finish(supervisor) == "code 0"
    assert (tmp_path / "stopped").read_text() == "stopped"  # it was not killed in the middle of its stop
    assert time.monotonic() - began >= 3
    assert _gone(child)


def test_a_second_ctrl_c_hurries_the_child_with_sigterm(tmp_path):
    supervisor, child = _start(HURRIED, tmp_path, stop_seconds=30)
    supervisor.send_signal(signal.SIGINT)  # ignored by this child
    time.sleep(1.5)
    assert supervisor.poll() is None and not _gone(child)
    supervisor.send_signal(signal.SIGINT)
    assert _finish(supervisor) == "code 3"  # the child's own exit on SIGTERM
    assert _gone(child)


def test_a_child_deaf_to_both_is_killed_once_the_stop_time_is_up(tmp_path):
    supervisor, child = _start(DEAF, tmp_path, stop_seconds=2)
    began = time.monotonic()
    supervisor.send_signal(signal.SIGINT)
    time.sleep(0.5)
    supervisor.send_signal(signal.SIGTERM)
    assert _finish(supervisor) == f"code {-signal.SIGKILL}"
    assert 2 <= time.monotonic() - began < 15
    assert _gone(child)
