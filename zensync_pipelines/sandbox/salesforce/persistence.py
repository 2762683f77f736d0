"""Keeps the org on disk for `--data FILE`: atomic, debounced writes so a burst of API calls costs one write."""

from __future__ import annotations

import json
import os
import tempfile
import threading
from typing import Any, Callable, Optional


class Persistence:
    def __init__(self, path: str, snapshot: Callable[[], dict[str, Any]], delay: float = 0.2):
        self.path = os.path.abspath(path)
        self._snapshot = snapshot
        self._delay = delay
        self._timer: Optional[threading.Timer] = None
        # Two locks: `schedule` runs under the store lock, `flush` takes the store lock via the snapshot;
        # sharing one lock between them would deadlock.
        self._timer_lock = threading.Lock()
        self._write_lock = threading.Lock()

    def load(self) -> Optional[dict[str, Any]]:
        if not os.path.exists(self.path):
            return None
        with open(self.path, encoding="utf-8") as handle:
            return json.load(handle)

    def schedule(self) -> None:
        with self._timer_lock:
            if self._timer is None:
                self._timer = threading.Timer(self._delay, self.flush)
                self._timer.daemon = True
                self._timer.start()

    def flush(self) -> None:
        with self._timer_lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        state = self._snapshot()
        with self._write_lock:
            directory = os.path.dirname(self.path)
            os.makedirs(directory, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=directory, prefix=".sf-sandbox-")
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(state, handle)
                handle.flush()
                os.fsync(handle.fileno())
            # rename is atomic: a crash leaves either the old state or the new one, never half a file
            os.replace(temp, self.path)
