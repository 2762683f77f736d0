"""The launcher's side of the warm process: start it, hand it runs, hear of their ends, restart it when the code
it imported has changed on disk (so `zensync dev` after an edit never runs yesterday's code)."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from typing import Any, Callable, Optional

from dagster._core.errors import DagsterLaunchFailedError

log = logging.getLogger(__name__)
# The first run after the daemon starts may wait for the warm process's imports (a few seconds, more on a busy
# machine); a process that answers nothing in this time is broken.
REPLY_SECONDS = 300.0


def process_identity(pid: int) -> Optional[str]:
    """The process's start time in clock ticks (/proc/<pid>/stat), so a pid reused by another process is not taken
    for the run's; None when no such process runs (a zombie counts as ended)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except FileNotFoundError:
        return None
    except OSError:  # no /proc: whether the pid exists is all we can tell
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass
        return "alive"
    return None if fields[0] in ("Z", "X") else fields[19]


def _source_dirs(modules: list[str]) -> list[str]:
    dirs = []
    for top in sorted({m.split(".")[0] for m in modules}):
        spec = importlib.util.find_spec(top)
        if spec and spec.submodule_search_locations:
            dirs += list(spec.submodule_search_locations)
        elif spec and spec.origin:
            dirs.append(os.path.dirname(spec.origin))
    return dirs


def newest_source(dirs: list[str]) -> float:
    newest = 0.0
    for top in dirs:
        for folder, subfolders, files in os.walk(top):
            subfolders[:] = [d for d in subfolders if d != "__pycache__"]
            for name in files:
                if name.endswith(".py"):
                    newest = max(newest, os.stat(os.path.join(folder, name)).st_mtime)
    return newest


class WarmProcess:
    """One zygote (zygote.py) for one launcher. Thread-safe: launches take a lock, a reader thread takes the
    zygote's answers (forked pids to the launch waiting for them, ended runs to `on_exit`)."""

    def __init__(self, modules: list[str], on_exit: Callable[[str, int, int, Optional[int]], None]):
        self._modules, self._on_exit = modules, on_exit
        self._lock = threading.Lock()
        self._popen: Optional[subprocess.Popen] = None
        self._replies: queue.Queue = queue.Queue()
        self._started_at = 0.0
        self._dirs = _source_dirs(modules)

    def start_in_background(self) -> None:
        if self._popen is None:
            threading.Thread(target=self._ensure, name="zensync-warm-start", daemon=True).start()

    def _ensure(self) -> subprocess.Popen:
        with self._lock:
            return self._ensure_locked()

    def _ensure_locked(self) -> subprocess.Popen:
        popen = self._popen
        if popen is not None and popen.poll() is None and newest_source(self._dirs) <= self._started_at:
            return popen
        if popen is not None:
            log.info("zensync warm launcher: restarting the warm process (code changed, or it ended)")
            self._close(popen)
        self._started_at = time.time()
        self._popen = subprocess.Popen([sys.executable, "-m", "zensync_pipelines.launcher.zygote", *self._modules],
                                       stdin=subprocess.PIPE, stdout=subprocess.PIPE, close_fds=True)
        self._replies = queue.Queue()
        threading.Thread(target=self._read, args=(self._popen, self._replies), name="zensync-warm-reader",
                         daemon=True).start()
        return self._popen

    def _read(self, popen: subprocess.Popen, replies: queue.Queue) -> None:
        assert popen.stdout is not None
        for line in popen.stdout:
            message: dict[str, Any] = json.loads(line)
            if "exited" in message:
                try:
                    self._on_exit(message["run_id"], message["exited"], message["code"], message["signal"])
                except Exception:  # noqa: BLE001 - a report that fails must not stop the next ones
                    log.exception("zensync warm launcher: could not record the end of run %s", message["run_id"])
            elif "pid" in message:
                replies.put(message)
        replies.put(None)  # the zygote is gone

    def launch(self, run_id: str, args: str) -> int:
        with self._lock:
            popen = self._ensure_locked()
            assert popen.stdin is not None
            try:
                popen.stdin.write((json.dumps({"run_id": run_id, "args": args}) + "\n").encode())
                popen.stdin.flush()
                reply = self._replies.get(timeout=REPLY_SECONDS)
            except (OSError, queue.Empty) as error:
                reply = None
                log.error("zensync warm launcher: the warm process did not take run %s: %s", run_id, error)
            if reply is None:
                self._close(popen)
                self._popen = None
                raise DagsterLaunchFailedError(f"The warm run process did not start run {run_id}: it ended or "
                                               "did not answer (its output is in the daemon's log).")
        return reply["pid"]

    @staticmethod
    def _close(popen: subprocess.Popen, retire: bool = True) -> None:
        """Retired, the zygote ends and leaves its runs to finish; closed (the launcher is disposed), it ends them
        (SIGTERM: Dagster records them CANCELED)."""
        try:
            if popen.stdin:
                if retire and popen.poll() is None:
                    popen.stdin.write(b'{"retire": true}\n')
                popen.stdin.close()
            popen.wait(timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            popen.kill()
            popen.wait()

    def close(self) -> None:
        with self._lock:
            if self._popen is not None:
                self._close(self._popen, retire=False)
                self._popen = None
