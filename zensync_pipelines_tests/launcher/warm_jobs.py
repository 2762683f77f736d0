"""A code location of small jobs for the warm run launcher's tests: one succeeds, one raises, one waits (to be
terminated, or killed), one waits deaf to SIGTERM and SIGINT; each records its process id first."""

import os
import signal
import time
from pathlib import Path

from dagster import Definitions, OpExecutionContext, in_process_executor, job, op


@op
def note_pid(context: OpExecutionContext) -> int:
    folder = os.environ.get("WARM_TEST_MARKERS")
    if folder:
        (Path(folder) / context.run_id).write_text(f"{os.getpid()} {os.getppid()}")
    return os.getpid()


@op
def wait_long(pid: int) -> None:
    time.sleep(120)


@op
def wait_deaf(context: OpExecutionContext, pid: int) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    folder = os.environ.get("WARM_TEST_MARKERS")
    if folder:  # only now is the run deaf: a signal before this line still interrupts it
        (Path(folder) / f"{context.run_id}.deaf").write_text("")
    time.sleep(120)


@op
def boom(pid: int) -> None:
    raise RuntimeError("the op raised on purpose")


@job
def succeeds():
    note_pid()


@job
def raises():
    boom(note_pid())


@job
def waits():
    wait_long(note_pid())


@job
def ignores_signals():
    wait_deaf(note_pid())


# in_process_executor: as zensync's jobs run
defs = Definitions(jobs=[succeeds, raises, waits, ignores_signals], executor=in_process_executor)
