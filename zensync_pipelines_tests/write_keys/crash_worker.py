"""A sync process that dies (SIGKILL, as `kill -9`) right after its external calls and before their bookkeeping:
the crash the write-key tests rerun from. Plain engine and adapter, as a Dagster run executes them."""

from __future__ import annotations

import json
import os
import signal
import sys

from zensync_pipelines.store.mappings import MappingStore

from ..chaos.worker import sync


def _die(*args: object, **kwargs: object) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def main() -> None:
    target, ids = json.loads(sys.argv[1]), json.loads(sys.argv[2])
    MappingStore.record_outcomes = _die  # the calls are made; their outcomes are never recorded
    sync(target, ids)


if __name__ == "__main__":
    main()
