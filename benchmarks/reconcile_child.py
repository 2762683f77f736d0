"""One full reconcile in a process of its own, so its peak memory is its own: prints a JSON line of figures.

    python -m benchmarks.reconcile_child DATABASE_URL [--profile FILE.html]

The parent (scenarios/reconcile.py) has built the catalog and primed the mapping table; this process only reads
them. A real StripeAdapter talks to an in-process Stripe sandbox, whose request counter proves no call was made.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from zensync_pipelines.catalogs.customers import SPEC  # noqa: E402
from zensync_pipelines.engine.sync import Selection, SyncRun  # noqa: E402
from zensync_pipelines.sandbox.stripe import StripeSandbox  # noqa: E402
from zensync_pipelines.store.catalog import CatalogTables  # noqa: E402
from zensync_pipelines.store.db import make_engine  # noqa: E402
from zensync_pipelines.store.mappings import MappingStore  # noqa: E402
from zensync_pipelines.systems.stripe import StripeAdapter  # noqa: E402


class Timed:
    """Adds up the seconds spent inside the wrapped source's and store's calls, for the breakdown."""

    def __init__(self) -> None:
        self.seconds = {"read rows": 0.0, "load states": 0.0, "write": 0.0}


class TimedSource:
    def __init__(self, inner: CatalogTables, timed: Timed):
        self.inner, self.timed = inner, timed

    def iter_chunks(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        chunks = self.inner.iter_chunks(*args, **kwargs)
        while True:
            began = time.perf_counter()
            chunk = next(chunks, None)
            self.timed.seconds["read rows"] += time.perf_counter() - began
            if chunk is None:
                return
            yield chunk


class TimedStore:
    def __init__(self, inner: MappingStore, timed: Timed):
        self.inner, self.timed = inner, timed

    def _timed(self, part: str, method: str, *args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return getattr(self.inner, method)(*args, **kwargs)
        finally:
            self.timed.seconds[part] += time.perf_counter() - began

    def load_states(self, *args: Any, **kwargs: Any) -> Any:
        return self._timed("load states", "load_states", *args, **kwargs)

    def external_ids(self, *args: Any, **kwargs: Any) -> Any:
        return self._timed("load states", "external_ids", *args, **kwargs)

    def record_intents(self, *args: Any, **kwargs: Any) -> Any:
        return self._timed("write", "record_intents", *args, **kwargs)

    def record_outcomes(self, *args: Any, **kwargs: Any) -> Any:
        return self._timed("write", "record_outcomes", *args, **kwargs)


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise KeyError(field)


def memory_mark() -> int:
    """Resident KiB now, with the peak counter reset, so `memory_peak` is the run's own high-water mark.

    ru_maxrss would not do: Linux carries it across exec, so a child forked from a big parent starts with the
    parent's peak. VmHWM belongs to the new address space, and writing 5 to clear_refs resets it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return _status_kib("VmRSS")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def memory_peak() -> int:
    try:
        return _status_kib("VmHWM")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--profile", help="write a pyinstrument HTML profile of the run here")
    args = parser.parse_args()
    engine = make_engine(args.url)
    with StripeSandbox(rate_limit=None) as sandbox:
        adapter = StripeAdapter("sk_test_zensync_bench", sandbox.url, rate_limit_per_second=1000)
        timed = Timed()
        run = SyncRun(SPEC, "stripe", TimedSource(CatalogTables(engine), timed),
                      TimedStore(MappingStore(engine), timed), adapter, "bench-reconcile")
        profiler = None
        if args.profile:
            from pyinstrument import Profiler
            profiler = Profiler()
            profiler.start()
        rss_before = memory_mark()
        began, cpu_began = time.perf_counter(), time.process_time()
        report = run.run(Selection())
        seconds, cpu = time.perf_counter() - began, time.process_time() - cpu_began
        rss_after = memory_peak()
        if profiler is not None:
            profiler.stop()
            Path(args.profile).write_text(profiler.output_html())
        calls = sandbox.counters.total()
    parts = dict(timed.seconds)
    parts["plan"] = seconds - sum(parts.values())
    print(json.dumps({"seconds": seconds, "cpu_seconds": cpu, "parts": parts, "counts": report.counts(),
                      "sandbox_calls": calls, "adapter_calls": adapter.api_calls, "rss_before_kib": rss_before,
                      "rss_peak_kib": rss_after}))


if __name__ == "__main__":
    main()
