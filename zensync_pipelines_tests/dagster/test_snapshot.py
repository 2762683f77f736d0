"""Every asset, group, job, sensor and schedule and check of the code location, against a checked-in listing.

A new catalog, system or automation shows up as a reviewable diff of `definitions_snapshot.txt`. After an
intended change, regenerate it (and the docs' derived tables) with the one command:

    python -m zensync_pipelines_tests.regenerate
"""

import os
import subprocess
import sys

from zensync_pipelines.definitions import defs

from ..regenerate import COMMAND, ROOT, SNAPSHOT, definitions_listing, main



def test_definitions_match_the_checked_in_listing():
    current = definitions_listing(defs)
    if os.environ.get("ZENSYNC_UPDATE_SNAPSHOT") == "1":  # kept: the older way to regenerate it
        (ROOT / SNAPSHOT).write_text(current)
    assert (ROOT / SNAPSHOT).exists(), f"no snapshot yet: run {COMMAND}"
    assert current == (ROOT / SNAPSHOT).read_text(), f"definitions changed: review the diff, then run {COMMAND}"


def test_the_one_command_checks_and_regenerates_every_derived_file(tmp_path):
    """CI runs the tests; this one runs the command as a developer does, on a copy of the derived files."""
    for path in (SNAPSHOT, "docs/adding-a-system.md"):
        (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / path).write_text((ROOT / path).read_text())
    command = [sys.executable, "-m", "zensync_pipelines_tests.regenerate", "--root", str(tmp_path)]
    fresh = subprocess.run([*command, "--check"], capture_output=True, text=True, cwd=ROOT)
    assert (fresh.returncode, fresh.stdout) == (0, "every derived file is up to date\n"), fresh.stderr
    (tmp_path / SNAPSHOT).write_text("asset gone\n")
    page = tmp_path / "docs/adding-a-system.md"
    page.write_text(page.read_text().replace("| `stripe` |", "| `stripe-old` |"))
    checked = subprocess.run([*command, "--check"], capture_output=True, text=True, cwd=ROOT)
    assert checked.returncode == 1
    assert checked.stderr.splitlines() == [
        f"{SNAPSHOT} is out of date: run {COMMAND} and commit the diff",
        "docs/adding-a-system.md is out of date: run python -m zensync_pipelines_tests.regenerate and commit the "
        "diff"]
    assert page.read_text().count("stripe-old") == 1  # --check changed nothing
    assert main(["--root", str(tmp_path)]) == 0
    assert (tmp_path / SNAPSHOT).read_text() == (ROOT / SNAPSHOT).read_text()
    assert page.read_text() == (ROOT / "docs/adding-a-system.md").read_text()
