"""Keeps the sandbox's state in a JSON file across restarts (`--data FILE`).

Writes are debounced: a burst of thousands of API writes marks the state dirty and a background thread saves it at
most once per interval. Each save goes to a temporary file that replaces the old one, so a crash mid-write leaves
the previous complete state rather than a truncated file.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from typing import Any, Callable, Optional


class DebouncedFile:
    def __init__(self, path: str, snapshot: Callable[[], dict[str, Any]], interval: float = 0.2):
        self.path = path
        self._snapshot = snapshot
        self._interval = interval
        self._dirty = threading.Event()
        self._stopping = threading.Event()
        self._write_lock = threading.Lock()
        self._thread: Optional[threading.Thread] = None
        self.saves = 0  # how many times the file was written, so tests can check the debouncing

    def read(self) -> Optional[dict[str, Any]]:
        if not os.path.exists(self.path):
            return None
        with open(self.path, encoding="utf-8") as handle:
            return json.load(handle)

    def start(self) -> None:
        self._stopping.clear()
        self._thread = threading.Thread(target=self._run, name="stripe-sandbox-persist", daemon=True)
        self._thread.start()

    def mark_dirty(self) -> None:
        self._dirty.set()

    def _run(self) -> None:
        while not self._stopping.is_set():
            if self._dirty.wait(timeout=0.5) and not self._stopping.wait(self._interval):
                self.flush()

    def flush(self) -> None:
        with self._write_lock:
            if not self._dirty.is_set():
                return
            self._dirty.clear()
            state = self._snapshot()
            directory = os.path.dirname(os.path.abspath(self.path))
            handle, temporary = tempfile.mkstemp(prefix=".stripe-sandbox-", dir=directory)
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as out:
                    json.dump(state, out)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temporary, self.path)
            except BaseException:
                os.unlink(temporary)
                raise
            self.saves += 1

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        self.flush()
