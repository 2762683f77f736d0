"""How the server commands stop: Ctrl-C (SIGINT) and SIGTERM both end in KeyboardInterrupt in the main thread, so
one `except KeyboardInterrupt` / `finally` path stops the server and flushes its data file.

Both handlers are installed explicitly. A process started in the background by a shell without job control
(`cmd &` in a script, nohup, a CI runner) begins with SIGINT ignored, and Python then installs no handler of its
own: a server relying on Python's default would ignore Ctrl-C and the SIGINT a supervisor or test sends.
"""

from __future__ import annotations

import signal
from typing import Any


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def stop_on_interrupt_or_term() -> None:
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
