"""The code location loads, validates, and names its assets and jobs as users' scripts expect."""

import os
import subprocess
import sys
from pathlib import Path

from dagster import AssetKey

from zensync_pipelines.definitions import defs

ROOT = Path(__file__).resolve().parents[2]


def test_asset_keys_groups_and_jobs_follow_the_naming_contract():
    graph = defs.resolve_asset_graph()
    keys = set(graph.get_all_asset_keys())
    assert {AssetKey(["catalog", "customers"]), AssetKey(["stripe", "customers"])} <= keys
    stripe_customers = graph.get(AssetKey(["stripe", "customers"]))
    assert stripe_customers.group_name == "customers"
    assert AssetKey(["catalog", "customers"]) in stripe_customers.parent_keys
    assert defs.resolve_job_def("sync_customers_stripe") is not None


def test_dagster_definitions_validate_passes(tmp_path):
    env = dict(os.environ, DAGSTER_HOME=str(tmp_path), ZENSYNC_DATA_DIR=str(tmp_path / "data"))
    result = subprocess.run([sys.executable, "-m", "dagster", "definitions", "validate", "-w", "workspace.yaml"],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Validation successful" in result.stdout + result.stderr
