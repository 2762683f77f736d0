"""The benchmark harness at smoke size: every scenario runs against the sandboxes and reports.

Speed is not judged here (smoke sizes are too small, and CI machines vary); docs/performance.md holds the
figures of a full run. What is checked is that `python benchmarks/run.py --smoke --out DIR` keeps working:
each scenario finishes, reports its figures with their references and its targets, and draws its plots.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = {"salesforce", "stripe", "detection", "reconcile", "latency", "inbound", "salesforce_inbound"}


# Seven scenarios, each starting sandboxes, receivers and `zensync dev` processes: 5-9 minutes on the 2-CPU machine
# (522 s with other work running), so the subprocess's own bound, not the suite's 600 s, is the one that holds.
@pytest.mark.timeout(960)
def test_every_scenario_runs_at_smoke_size_and_writes_json_markdown_and_plots(tmp_path):
    out = tmp_path / "bench"
    done = subprocess.run([sys.executable, "benchmarks/run.py", "--smoke", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]

    results = json.loads((out / "results.json").read_text())
    assert results["meta"]["smoke"] is True and results["meta"]["crashed"] == []
    scenarios = {s["scenario"]: s for s in results["scenarios"]}
    assert set(scenarios) == SCENARIOS
    report = (out / "report.md").read_text()
    for name, scenario in scenarios.items():
        assert scenario["figures"] and scenario["targets"] and scenario["notes"], name
        assert any(f["ratio"] is not None and f["reference"] for f in scenario["figures"]), name
        assert all(isinstance(t["value"], (int, float)) and t["goal"] for t in scenario["targets"]), name
        for plot in scenario["plots"]:
            assert (out / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", plot
            assert f"]({plot})" in report
        assert scenario["title"] in report
    # The API scenarios' correctness figures hold at any size: nothing changed, nothing written.
    reconcile = {t["name"]: t for t in scenarios["reconcile"]["targets"]}
    assert any("call" in name.lower() and t["value"] == 0 for name, t in reconcile.items()), reconcile
