"""`zensync dev`'s console: Dagster's output minus the lines every idle sensor tick writes.

The sensor daemon logs at INFO when it starts evaluating a sensor and again when the sensor skips, for every
sensor on every tick (about 8 lines a tick: 2.4 MB of dev.log in 24 minutes). A skip needs no line; a tick that
launches a run still says so ("Launching run for ...", "Completed launch of run ..."), and every warning and
error passes through.
"""

from __future__ import annotations

import re
import threading
from typing import IO, Iterable

# Dagster colours the level on a terminal ("\x1b[34mINFO\x1b[0m"), and zensync dev's output is often one.
SENSOR_NOISE = re.compile(r"INFO(?:\x1b\[0m)? - (?:Checking for new runs for sensor: |Sensor \S+ skipped: "
                          r"|No run requests returned for \S+, skipping)")


def quiet(lines: Iterable[str]) -> Iterable[str]:
    return (line for line in lines if not SENSOR_NOISE.search(line))


def relay(source: IO[str], sink: IO[str]) -> threading.Thread:
    """Copy `source` to `sink` in the background, without the idle-tick lines."""
    def copy() -> None:
        for line in quiet(source):
            sink.write(line)
            sink.flush()

    thread = threading.Thread(target=copy, name="dagster-output", daemon=True)
    thread.start()
    return thread
