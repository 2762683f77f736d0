"""`zensync sync` from a second terminal while `zensync dev` runs: the run goes through dev's run queue, its daemon
and code server (the code location `zensync` the command names is the one dev serves), and the command follows it."""

import os
import subprocess
import sys

from dagster import DagsterInstance

from .conftest import ROOT


def test_a_sync_started_by_hand_runs_through_zensync_devs_queue(zensync_dev):
    env = dict(os.environ, ZENSYNC_DATA_DIR=str(zensync_dev.data), COLUMNS="200",
               DAGSTER_WEBSERVER_URL=zensync_dev.url,
               PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
               STRIPE_API_KEY="sk_test_any", STRIPE_API_BASE=zensync_dev.stripe_url)  # preflight's; the run's are dev's
    for inherited in ("ZENSYNC_DATABASE_URL", "DAGSTER_HOME", "ZENSYNC_CODE_LOCATION"):
        env.pop(inherited, None)  # as a user of `zensync dev` runs it: the data folder says everything
    done = subprocess.run([sys.executable, "-m", "zensync_pipelines.cli", "sync", "plans", "stripe"], env=env,
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stdout + done.stderr + zensync_dev.logs()
    [run_id] = {line.split()[1].rstrip(":") for line in done.stdout.splitlines() if line.startswith("run ")}
    assert f"run {run_id}: queued" in done.stdout and f"run {run_id}: success" in done.stdout
    assert f"sync_plans_stripe: run {run_id} succeeded" in done.stdout
    with DagsterInstance.from_config(str(zensync_dev.data / "dagster_home")) as instance:
        run = instance.get_run_by_id(run_id)
    assert run.remote_job_origin.location_name == zensync_dev.location() == "zensync"
    assert "zensync/run_process" in run.tags  # launched by dev's daemon, as a fork of its warm run process
