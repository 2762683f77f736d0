"""Following a docs page literally: a throwaway copy of the checkout, files written from the page's blocks, and the
page's command blocks run as a user types them, from the copy's root, as subprocesses.

The copy is imported through PYTHONPATH, as an editable install (`pip install -e .`) imports the checkout: a spec
file written into the copy's `zensync_pipelines/catalogs/` is seen by `zensync`, `dagster` and the regenerate
command exactly as a user's would be, and nothing of the repository under test changes.

Commands that read no catalog rows (the code location's load, the regenerate command) run in the SQLite half only:
each costs a process loading Dagster and every spec, and the walk-through modules should stay near a minute.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Mapping

ROOT = Path(__file__).resolve().parents[2]
# Variables of this shell that would point a command elsewhere than the copy: a user following the page has none.
FOREIGN = ("PYTHONPATH", "DAGSTER_HOME", "ZENSYNC_DATA_DIR", "ZENSYNC_DATABASE_URL", "ZENSYNC_SKIP_SYSTEMS",
           "ZENSYNC_PARTITION_BY", "ZENSYNC_EXECUTOR")


def copy_checkout(target: Path) -> Path:
    """The checkout's files as git knows them (tracked, and new ones not ignored), without build or data folders."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, check=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def environment(checkout: Path, settings: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in FOREIGN and not k.startswith(("STRIPE_", "SALESFORCE_", "ACME_"))}
    return env | {"PYTHONPATH": str(checkout), "DAGSTER_TELEMETRY_DISABLED": "1"} | dict(settings)


def commands(block: str) -> list[str]:
    """The commands of a shell block: continuation lines joined; comments (the page's stated outcomes) kept, as the
    shell ignores them."""
    return [line.strip() for line in block.replace("\\\n", " ").splitlines() if line.strip()]


def typed(command: str, checkout: Path, env: Mapping[str, str], timeout: float = 180) -> subprocess.CompletedProcess:
    """One command as a user types it in a shell at the checkout's root."""
    return subprocess.run(["bash", "-c", command], cwd=checkout, env=dict(env), capture_output=True, text=True,
                          timeout=timeout)
