"""CPU that `zensync dev` burns while nothing changes: every process of its tree, summed, over a minute.

    python benchmarks/idle_cpu.py [--customers 200] [--seconds 60] [--settle 60] --out DIR

Starts `zensync dev` on free ports in DIR/idle, waits until the seed is synced and no run has been in flight for
`--settle` seconds, then reads each process's user + system CPU time (psutil, i.e. /proc/<pid>/stat) at the start
and the end of the window and prints the sum per process and in all, in CPU-seconds per minute. Not part of
run.py's scenarios: a minute of idling tells nothing at smoke size.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python benchmarks/idle_cpu.py` from the repo root

from benchmarks.scenarios.latency import INTERVAL_SECONDS, Dev, _wait  # noqa: E402

# First match wins: the daemon's command line names the code server's options too.
# The warm launcher's process and the runs forked from it share its command line.
ROLES = (("launcher.zygote", "warm process and its runs"), ("_daemon", "daemon"), ("dagster-daemon", "daemon"),
         ("webserver", "webserver"), ("code-server start", "code server"), ("api grpc", "code server"),
         ("execute_run", "run process"), ("api execute", "run process"), ("cli dev", "zensync dev"),
         ("cli.dagster_dev", "dagster dev"))


def role(process: psutil.Process) -> str:
    try:
        line = " ".join(process.cmdline())
    except psutil.Error:
        return "gone"
    return next((name for needle, name in ROLES if needle in line), line[:60])


def cpu_by_process(root: psutil.Process) -> dict[int, tuple[str, float]]:
    found = {}
    for process in [root, *root.children(recursive=True)]:
        try:
            times = process.cpu_times()
            found[process.pid] = (role(process), times.user + times.system + times.children_user
                                  + times.children_system)
        except psutil.Error:
            continue
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--settle", type=float, default=60)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    data = args.out.resolve() / "idle"
    subprocess.run(["rm", "-rf", str(data)], check=True)
    data.mkdir(parents=True)
    dev = Dev(data, INTERVAL_SECONDS, args.customers)
    try:
        _wait(lambda: dev.newest_run("sync_customers_stripe"), 600, "the first sensor run", 1.0)
        quiet_since = time.monotonic()
        while time.monotonic() - quiet_since < args.settle:  # settled: no run in flight for --settle seconds
            if not dev.idle():
                quiet_since = time.monotonic()
            time.sleep(2)
        root = psutil.Process(dev.process.pid)
        before, began = cpu_by_process(root), time.monotonic()
        time.sleep(args.seconds)
        after, seconds = cpu_by_process(root), time.monotonic() - began
        busy = not dev.idle()
    finally:
        dev.stop()
    per_minute = 60 / seconds
    parts: dict[str, float] = {}
    for pid, (name, cpu) in after.items():
        parts[name] = parts.get(name, 0.0) + (cpu - before.get(pid, (name, 0.0))[1]) * per_minute
    for name, cpu in sorted(parts.items(), key=lambda item: -item[1]):
        print(f"{cpu:7.2f} CPU-s/min  {name}")
    print(f"{sum(parts.values()):7.2f} CPU-s/min  in all, {len(after)} processes, over {seconds:.0f} s"
          + ("; a run was in flight at the end" if busy else ""))


if __name__ == "__main__":
    main()
