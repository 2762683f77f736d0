"""The UI test's browser: Chromium from the PATH or Playwright's own; without either, one line saying how."""

import subprocess
import sys
from pathlib import Path

from .conftest import NO_CHROMIUM, find_chromium

ROOT = Path(__file__).resolve().parents[2]


def test_chromium_is_found_on_the_path(tmp_path, monkeypatch):
    (tmp_path / "chromium").write_text("#!/bin/sh\n")
    (tmp_path / "chromium").chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_chromium() == str(tmp_path / "chromium")


def test_without_chromium_the_ui_test_fails_with_one_line_saying_how_to_get_one(tmp_path):
    env = {"PATH": str(tmp_path), "PLAYWRIGHT_BROWSERS_PATH": str(tmp_path / "none"), "HOME": str(tmp_path),
           "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(ROOT),
                           str(ROOT / "zensync_pipelines_tests/live/test_chromium.py::test_needs_chromium")],
                          cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 1, done.stdout[-2000:]
    assert NO_CHROMIUM in done.stdout and "Traceback" not in done.stdout


def test_needs_chromium(request):
    """Run by the test above in a subprocess without any browser; here it simply needs one."""
    assert request.getfixturevalue("chromium")
