"""The warm process behind WarmRunLauncher: imports Dagster, the SDKs and the code location once, then forks one
child per run that executes it as `dagster api execute_run` would.

A new run process spends seconds importing Dagster (~1.2 s unloaded), the stripe SDK and the code location before
its first step, and far longer on a busy machine; a fork of this process starts with all of it in memory.

Protocol, one JSON object per line: the launcher writes {"run_id", "args"} (args: serialized ExecuteRunArgs) on
our stdin; we answer {"run_id", "pid"} on stdout once the child is forked, and {"exited": pid, "run_id", "code",
"signal"} when a child ends. We stay single-threaded (fork copies only the calling thread, so no other thread may
hold a lock at fork time) and open no database connection or gRPC channel: the child makes its own. When the
launcher's process ends (our stdin closes) or we are sent SIGTERM, we terminate the runs still going and exit; a
"retire" request (the launcher replaced us after a code change) ends us and leaves our runs to finish. SIGINT does
not end us: a Ctrl-C reaches the runs themselves, and a zygote gone before its runs could no longer stop them when
the daemon stops, nor report their ends.
"""

from __future__ import annotations

import importlib
import json
import os
import select
import signal
import sys
import time
from typing import Any, Optional

_children: dict[int, str] = {}  # pid -> run id, for the exit report
_out = sys.stdout


def _say(message: dict[str, Any]) -> None:
    global _out
    try:
        _out.write(json.dumps(message) + "\n")
        _out.flush()
    except BrokenPipeError:
        # The launcher is gone (its daemon was killed): nobody to tell, but its runs must still be stopped, so no
        # exception here; stdout goes to /dev/null, so that nothing fails again at exit either.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, _out.fileno())
        os.close(devnull)
        _out = open(os.devnull, "w")


def _reap() -> None:
    """After SIGCHLD: collect every ended child (no zombies, so a pid check sees a dead run as dead) and report it."""
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        run_id = _children.pop(pid, None)
        if run_id is not None:
            _say({"exited": pid, "run_id": run_id, "code": os.waitstatus_to_exitcode(status),
                  "signal": os.WTERMSIG(status) if os.WIFSIGNALED(status) else None})


def preload(modules: list[str]) -> None:
    """Import what every run needs, and build each module's Definitions, which the child's job lookup reuses."""
    from dagster import Definitions

    for name in ["dagster._cli.api", "dagster._core.execution.api", "dagster._core.instance",
                 "dagster._core.storage.runs.sqlite", "dagster._core.storage.event_log.sqlite",
                 "dagster._core.storage.schedules.sqlite", "dagster._core.executor.in_process", *modules]:
        importlib.import_module(name)
    for name in modules:
        for value in vars(sys.modules[name]).values():
            if isinstance(value, Definitions):
                value.get_repository_def()


def _child(run_id: str, args: str, control: list[int]) -> None:
    """In the forked child: undo what the zygote set up, then execute the run as `dagster api execute_run`."""
    code = 1
    try:
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)  # the run's own subprocesses are waited for normally
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        for fd in control:
            os.close(fd)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        os.dup2(2, 1)  # the run's prints go where the zygote's stderr goes (zensync dev's log), not our protocol
        from dagster._cli.api import execute_run_command

        execute_run_command.callback(input_json=args, compressed_input_json=None)
        code = 0
    except SystemExit as exit_:
        code = exit_.code if isinstance(exit_.code, int) else 1
    except BaseException:  # noqa: BLE001 - anything the run's own handling did not catch ends the process loudly
        import traceback

        print(f"zensync warm launcher: run {run_id} crashed outside Dagster's handling", file=sys.stderr)
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)  # never return into the zygote's loop, nor run its exit handlers


def _signal_children(signo: int) -> None:
    for pid in list(_children):
        try:
            os.kill(pid, signo)
        except ProcessLookupError:
            pass


def _stop_children(grace: float = 20.0) -> None:
    """SIGTERM to every run still going (Dagster's run worker turns it into an interrupt and records the run
    failed), then wait for them a while; a run still going after that is killed, so no run process outlives the
    daemon that launched it (run monitoring fails such a run when a daemon starts again)."""
    _signal_children(signal.SIGTERM)
    deadline = time.monotonic() + grace
    while _children and time.monotonic() < deadline:
        time.sleep(0.1)
        _reap()
    if _children:
        print(f"zensync warm process: runs {sorted(_children.values())} did not end within {grace:.0f} s of "
              "SIGTERM; killing them", file=sys.stderr, flush=True)
        _signal_children(signal.SIGKILL)
        deadline = time.monotonic() + 5
        while _children and time.monotonic() < deadline:
            time.sleep(0.05)
            _reap()


def serve(stdin: int) -> None:
    """Wait on the launcher's requests and on SIGCHLD (through a wakeup pipe, so no handler ever runs in the
    middle of a write): the process sleeps in select() between runs and costs no CPU."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)  # a Python handler, so the wakeup pipe gets the signal
    signal.signal(signal.SIGTERM, lambda *_: None)  # the same, read from the pipe: stop the runs, then go
    control, pending = [stdin, _out.fileno(), wake_r, wake_w], b""
    while True:
        try:
            ready, _, _ = select.select([stdin, wake_r], [], [])
        except InterruptedError:
            continue
        if wake_r in ready:
            signals = os.read(wake_r, 512)
            _reap()
            if signal.SIGTERM in signals:
                _stop_children()
                return
        if stdin not in ready:
            continue
        chunk = os.read(stdin, 65536)
        if not chunk:
            _stop_children()  # the launcher's process is gone (zensync dev stopping): its runs go with it
            return
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            request = json.loads(line)
            if request.get("retire"):
                return  # replaced by a fresh zygote (the code changed): our runs finish on their own
            pid = os.fork()
            if pid == 0:
                signal.set_wakeup_fd(-1)
                _child(request["run_id"], request["args"], control)
            _children[pid] = request["run_id"]
            _say({"run_id": request["run_id"], "pid": pid})


def main(argv: Optional[list[str]] = None) -> None:
    modules = argv if argv is not None else sys.argv[1:]
    # Ctrl-C in `zensync dev` reaches the whole process group: the runs handle theirs, and we end when the daemon
    # does (our stdin closes), after them.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    began = time.perf_counter()
    preload(modules)
    _say({"ready": round(time.perf_counter() - began, 3)})
    serve(sys.stdin.fileno())


if __name__ == "__main__":
    main()
