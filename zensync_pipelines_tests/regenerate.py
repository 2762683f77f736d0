"""Regenerate every file derived from the code: the definitions snapshot and the docs' registered-systems table.

    python -m zensync_pipelines_tests.regenerate           # rewrite the files that are out of date
    python -m zensync_pipelines_tests.regenerate --check   # exit 1 naming each file out of date (CI: the tests)

After adding a catalog or a system, run it and commit the diff: the snapshot lists every asset, job, sensor and
schedule the new spec or system brings, for review. `zensync_pipelines_tests/dagster/test_snapshot.py` and
`extensibility/test_registry.py` fail with this command's name while a file is stale.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from pathlib import Path
from typing import Callable, Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]
SNAPSHOT = Path("zensync_pipelines_tests/dagster/definitions_snapshot.txt")
SYSTEMS_PAGE = Path("docs/adding-a-system.md")
TABLE = re.compile(r"(<!-- registered-systems -->\n)(.*?)(<!-- /registered-systems -->)", re.S)
COMMAND = "python -m zensync_pipelines_tests.regenerate"


def definitions_listing(definitions=None) -> str:
    """Every asset (group, deps), check, job, sensor and schedule of the code location, one line each."""
    if definitions is None:
        from zensync_pipelines.dagster_defs.settings import SKIP_SYSTEMS
        from zensync_pipelines.definitions import build_definitions

        # The code location's listing, not this shell's: `zensync dev` skips unconfigured systems' sensors.
        skipped = os.environ.pop(SKIP_SYSTEMS, None)
        try:
            definitions = build_definitions()
        finally:
            if skipped is not None:
                os.environ[SKIP_SYSTEMS] = skipped
    graph = definitions.resolve_asset_graph()
    lines = []
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        deps = ", ".join(sorted(parent.to_user_string() for parent in node.parent_keys))
        lines.append(f"asset {key.to_user_string()} group={node.group_name} deps=[{deps}]")
    lines += sorted(f"check {check.asset_key.to_user_string()}:{check.name}" for check in graph.asset_check_keys)
    lines += sorted(f"job {job.name}" for job in definitions.resolve_all_job_defs()
                    if not job.name.startswith("__"))
    lines += sorted(f"sensor {sensor.name}" for sensor in definitions.sensors or [])
    lines += sorted(f"schedule {schedule.name}" for schedule in definitions.schedules or [])
    return "\n".join(lines) + "\n"


def shipped_systems() -> list:
    """The registry's entries the product ships (a test's own systems stay out of the docs)."""
    from zensync_pipelines.systems.registry import entries

    return [entry for entry in entries() if entry.adapter.startswith("zensync_pipelines.")]


def systems_page(text: str) -> str:
    """The page with its registered-systems table generated from the registry."""
    from zensync_pipelines.systems.registry import markdown_table

    if not TABLE.search(text):
        raise SystemExit(f"{SYSTEMS_PAGE} lost its <!-- registered-systems --> markers")
    return TABLE.sub(lambda m: m[1] + markdown_table(shipped_systems()) + m[3], text)


# Each derived file: its path under the repository and (current text) -> what it should hold.
TARGETS: dict[Path, Callable[[str], str]] = {
    SNAPSHOT: lambda current: definitions_listing(),
    SYSTEMS_PAGE: systems_page,
}


def stale(root: Path = ROOT) -> dict[Path, str]:
    """The derived files out of date, with the text each should hold."""
    found = {}
    for path, derive in TARGETS.items():
        current = (root / path).read_text() if (root / path).exists() else ""
        expected = derive(current)
        if expected != current:
            found[path] = expected
    return found


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a file is out of date")
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository (default: this checkout)")
    args = parser.parse_args(argv)
    found = stale(args.root)
    for path, expected in found.items():
        if args.check:
            print(f"{path} is out of date: run {COMMAND} and commit the diff", file=sys.stderr)
        else:
            (args.root / path).write_text(expected)
            print(f"{path} regenerated")
    if not found:
        print("every derived file is up to date")
    return 1 if found and args.check else 0


if __name__ == "__main__":
    sys.exit(main())
