"""Run every benchmark scenario against the sandboxes and write results.json, report.md and PNG plots.

    python benchmarks/run.py [--smoke] [--only NAME ...] --out DIR

--smoke runs each scenario at a small size (minutes in all, for CI); the figures then show that the harness
works, not how fast zensync is. With --only, the other scenarios of an earlier run in DIR stay in its report.
`--only peer` runs the drt-core comparison, which is not in the default set.
`--only tenants` runs the tenants scenario (the tenant column's cost without tenants; 200 tenants x 100 customers
through the change sensor), also outside the default set: 14-16 minutes at full size.
docs/performance.md holds the latest full run.
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `python benchmarks/run.py` from the repo root

from benchmarks.common import Context, Result, dump  # noqa: E402
from benchmarks.report import markdown  # noqa: E402

SCENARIOS = ["salesforce", "stripe", "detection", "reconcile", "latency", "inbound", "salesforce_inbound"]
# Run only when named with --only: the peer needs drt-core (`pip install -e .[bench]`) and minutes even when small.
# `scale_out` starts Celery workers on RabbitMQ (127.0.0.1:5672) and needs the celery extra.
# `tenants` syncs 200 tenants x 100 customers through the change sensor: long (ZENSYNC_BENCH_TENANTS to shrink).
OPTIONAL = ["peer", "scale_out", "tenants"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--smoke", action="store_true", help="small sizes: checks the harness, not the speed")
    parser.add_argument("--out", required=True, type=Path, help="folder for results.json, report.md, *.png")
    parser.add_argument("--only", nargs="+", choices=SCENARIOS + OPTIONAL, help="run these scenarios only")
    args = parser.parse_args(argv)
    out = args.out.resolve()  # `zensync dev` (latency) runs in a folder of its own: no relative paths

    ctx = Context(args.smoke, out, out / "work")
    started = time.time()
    results, crashed = [], []
    for name in args.only or SCENARIOS:
        module = importlib.import_module(f"benchmarks.scenarios.{name}")
        ctx.log(f"== {module.TITLE}")
        began = time.perf_counter()
        try:
            result: Result = module.run(ctx)
        except Exception:  # one broken scenario must not hide the others' figures
            crashed.append(name)
            result = Result(name, module.TITLE, notes=["crashed:\n" + traceback.format_exc()])
            print(traceback.format_exc(), file=sys.stderr)
        result.seconds = round(time.perf_counter() - began, 1)
        results.append(result)
        print_result(result)

    results = kept_results(out / "results.json", args.smoke, results) if args.only else results
    meta = {"smoke": args.smoke, "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(started)),
            "seconds": round(time.time() - started, 1), "python": platform.python_version(),
            "machine": f"{platform.machine()}, {_cpus()} CPUs", "crashed": crashed}
    dump(out / "results.json", {"meta": meta, "scenarios": [r.to_json() for r in results]})
    (out / "report.md").write_text(markdown(meta, results))
    ctx.log(f"wrote {out / 'results.json'} and {out / 'report.md'} in {meta['seconds']} s")
    return 1 if crashed else 0


def kept_results(path: Path, smoke: bool, fresh: list[Result]) -> list[Result]:
    """With --only, the other scenarios of an earlier run of the same kind in DIR stay in the report."""
    if not path.exists():
        return fresh
    earlier = json.loads(path.read_text())
    if earlier["meta"]["smoke"] != smoke:
        return fresh
    by_name = {r.scenario: r for r in fresh}
    for scenario in earlier["scenarios"]:
        if scenario["scenario"] not in by_name:
            by_name[scenario["scenario"]] = Result.from_json(scenario)
    return [by_name[name] for name in SCENARIOS + OPTIONAL if name in by_name]


def print_result(result: Result) -> None:
    for f in result.figures:
        ratio = f"  = {f.ratio:.3g}x {f.reference}" if f.ratio is not None else ""
        print(f"   {f.name}: {f.value:,.4g} {f.unit}{ratio}")
    for t in result.targets:
        print(f"   target {t.name}: {t.value:,.4g} {t.unit} ({t.goal}) {'MET' if t.met else 'MISSED'}")
    print(f"   ({result.seconds} s)")


def _cpus() -> int:
    import os
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 0


if __name__ == "__main__":
    sys.exit(main())
