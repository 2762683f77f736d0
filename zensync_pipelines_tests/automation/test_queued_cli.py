"""`zensync sync` and `retry` in a deployment with a run queue: the run goes through the instance's queue and a real
`dagster-daemon` (with its own code server) runs it; the command follows it to the end.

The instance is `zensync dev`'s (QueuedRunCoordinator, zensync's tag limits), on Dagster's SQLite storage or on
PostgreSQL as deploy/production's; the daemon loads the code location as `zensync dev` does.
"""

import os
import subprocess
import sys
import time
import uuid

import pytest
import stripe
from click.testing import CliRunner
from dagster import DagsterInstance, DagsterRunStatus, RunsFilter
from sqlalchemy import text

from zensync_pipelines.cli import main
from zensync_pipelines.cli.dagster_dev import WORKSPACE
from zensync_pipelines.cli.dev import INSTANCE_YAML
from zensync_pipelines.cli.submit import queue_daemon_alive
from zensync_pipelines.demo.seed import seed_customers
from zensync_pipelines.store.db import make_engine
from zensync_pipelines_tests.conftest import reap

ROWS = 12
KEY = "sk_test_zensync_queue"
JOB = "sync_customers_stripe"


def _postgres_instance_yaml(url: str) -> str:
    """deploy/production's instance (PostgreSQL storage) with its URL given inline instead of from the env."""
    production = os.path.join(os.path.dirname(__file__), "..", "..", "deploy", "production", "dagster.yaml")
    with open(production) as file:
        yaml_text = file.read()
    assert "env: DAGSTER_POSTGRES_URL" in yaml_text
    return yaml_text.replace("postgres_url:\n      env: DAGSTER_POSTGRES_URL", f"postgres_url: {url}")


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request):
    return request.param


@pytest.fixture
def instance_storage(request, backend, tmp_path):
    """The Dagster instance's folder: SQLite files, or a fresh PostgreSQL database on the test server."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    if backend == "sqlite":
        (home / "dagster.yaml").write_text(INSTANCE_YAML.read_text())
        yield str(home)
        return
    server = request.getfixturevalue("postgres_server")
    name = f"zs_dagster_{uuid.uuid4().hex[:10]}"
    admin = make_engine(server).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = server.rsplit("/", 1)[0] + f"/{name}"
    (home / "dagster.yaml").write_text(_postgres_instance_yaml(url))
    try:
        yield str(home)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


class Deployment:
    def __init__(self, home, env, stripe_url, spawn):
        self.home, self.env, self.stripe_url, self.spawn = home, env, stripe_url, spawn
        self.daemon = None

    def start_daemon(self, **extra_env):
        log = open(os.path.join(self.home, "daemon.log"), "w")
        # The daemon waits for a run's process to load the code location before it dequeues the next; on the
        # shared 2-core test machines that took over Dagster's 60 s gRPC deadline, failing a run at launch.
        env = {**self.env, "DAGSTER_GRPC_TIMEOUT_SECONDS": "300", **extra_env}
        self.daemon = self.spawn([sys.executable, "-m", "dagster._daemon", "run", "-w", str(WORKSPACE)],
                                 env=env, cwd=self.home, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        with DagsterInstance.from_config(self.home) as instance:
            while not queue_daemon_alive(instance):
                assert self.daemon.poll() is None, self.daemon_log()
                assert time.monotonic() < deadline, "the daemon sent no heartbeat in 120 s\n" + self.daemon_log()
                time.sleep(0.5)

    def daemon_log(self):
        with open(os.path.join(self.home, "daemon.log")) as file:
            return file.read()[-3000:]

    def stop_daemon(self):
        """SIGTERM, which the daemon passes on to the code server it started; spawn's SIGKILL would orphan that."""
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.terminate()
            reap(self.daemon, grace=30)

    def zensync(self, *args):
        """The command as a user runs it, in its own process."""
        return self.spawn([sys.executable, "-m", "zensync_pipelines.cli", *args], env=self.env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT)

    def runs(self):
        with DagsterInstance.from_config(self.home) as instance:
            return sorted(instance.get_run_records(RunsFilter(job_name=JOB)), key=lambda r: r.create_timestamp)

    def remote(self):
        client = stripe.StripeClient(KEY, base_addresses={"api": self.stripe_url})
        return {c.metadata["zenskar_id"]: c for c in client.v1.customers.list(params={"limit": 100})
                .auto_paging_iter()}


@pytest.fixture
def deployment(request, backend, instance_storage, stripe_sandbox_url, tmp_path, monkeypatch, spawn):
    """The catalog and the instance on one backend: SQLite both (zensync dev), or PostgreSQL both (production)."""
    database_url = request.getfixturevalue("sqlite_url" if backend == "sqlite" else "postgres_url")
    env = {**os.environ, "ZENSYNC_DATABASE_URL": database_url, "ZENSYNC_DATA_DIR": str(tmp_path),
           "DAGSTER_HOME": instance_storage, "STRIPE_API_KEY": KEY, "STRIPE_API_BASE": stripe_sandbox_url,
           "COLUMNS": "200", "ZENSYNC_SENSORS_DEFAULT": "stopped"}
    env.pop("ZENSYNC_CODE_LOCATION", None)
    for name in ("ZENSYNC_DATABASE_URL", "ZENSYNC_DATA_DIR", "DAGSTER_HOME", "STRIPE_API_KEY", "STRIPE_API_BASE",
                 "COLUMNS"):
        monkeypatch.setenv(name, env[name])
    engine = make_engine(database_url)
    seed_customers(engine, ROWS)
    engine.dispose()
    deployment = Deployment(instance_storage, env, stripe_sandbox_url, spawn)
    yield deployment
    deployment.stop_daemon()


def _finish(process, timeout=240):
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output


def test_two_syncs_of_one_copy_queue_and_run_one_after_the_other(deployment, stripe_sandbox):
    # Each Stripe call takes 250 ms, so the first run lasts seconds and the second is surely looked at while queued
    # behind it (with an instant sandbox the first could end between the second's creation and its first look).
    stripe_sandbox.configure(latency_ms=250)
    deployment.start_daemon()
    first = deployment.zensync("sync", "customers", "stripe")
    deadline = time.monotonic() + 120
    while not deployment.runs():  # the second is submitted once the first is in the queue
        assert first.poll() is None and time.monotonic() < deadline, first.communicate()[0]
        time.sleep(0.2)
    second = deployment.zensync("sync", "customers", "stripe", "--full")
    (code_1, out_1), (code_2, out_2) = _finish(first), _finish(second)
    assert (code_1, code_2) == (0, 0), out_1 + out_2 + deployment.daemon_log()
    runs = deployment.runs()
    assert [r.dagster_run.status for r in runs] == [DagsterRunStatus.SUCCESS] * 2
    one, two = runs
    for record, output in ((one, out_1), (two, out_2)):
        run_id = record.dagster_run.run_id
        # Followed from the queue to the end, a line per status, then today's summary.
        lines = [line for line in output.splitlines() if line.startswith(f"run {run_id}: ")]
        statuses = [line.split(": ")[1].split()[0].rstrip(",") for line in lines]
        # `starting` may pass between two looks: a run forked from the warm launcher starts within a second.
        seen = [s for i, s in enumerate(statuses) if i == 0 or statuses[i - 1] != s]
        assert seen in (["queued", "starting", "started", "success"], ["queued", "started", "success"]), output
        assert f"{JOB}: run {run_id} succeeded" in output
        [totals] = [line for line in output.splitlines() if line.startswith("│ ")]
        # Launched by the daemon's warm launcher: the run carries its process, forked by the daemon's warm process.
        assert "zensync/run_process" in record.dagster_run.tags
        assert record.dagster_run.tags["zensync/copy"] == "customers.stripe"
        assert record.dagster_run.tags["zensync/lane"] == "default:stripe"
    # One copy at a time: the second started only after the first had ended, and, queued well before that end, said
    # whom it waited for.
    assert two.start_time >= one.end_time
    assert one.end_time - two.create_timestamp.timestamp() > 1, "the first run should still have been running"
    assert f"behind run {one.dagster_run.run_id} (zensync/copy=customers.stripe)" in out_2
    first_totals = [c.strip() for c in [line for line in out_1.splitlines() if line.startswith("│ ")][0].split("│")]
    assert first_totals[1] == str(ROWS - 1) and first_totals[5] == "1"  # created all but row 7, which is invalid
    assert set(deployment.remote()) == {str(i) for i in range(1, ROWS + 1)} - {"7"}


@pytest.mark.parametrize("backend", ["sqlite"])  # the storage's part is the ordering test's
def test_a_failed_queued_run_exits_1_naming_the_run_and_where_to_look(deployment):
    deployment.start_daemon(STRIPE_API_BASE="http://127.0.0.1:9")  # the runs' Stripe is down
    code, output = _finish(deployment.zensync("sync", "customers", "stripe"))
    [record] = deployment.runs()
    run_id = record.dagster_run.run_id
    assert code == 1, output
    assert record.dagster_run.status == DagsterRunStatus.FAILURE
    assert f"run {run_id}: failure" in output and f"{JOB}: run {run_id} FAILED" in output
    [line] = [line for line in output.splitlines() if line.startswith(f"run {run_id} failed: ")]
    assert "Traceback" not in output and KEY not in output
    assert f"(logs: the Dagster UI's Runs page (instance {deployment.home}), run {run_id})" in line
    assert deployment.remote() == {}


@pytest.mark.parametrize("backend", ["sqlite"])
def test_without_a_daemon_the_run_is_not_submitted_and_the_line_says_what_to_do(deployment):
    result = CliRunner().invoke(main, ["sync", "customers", "stripe"], catch_exceptions=False)
    assert result.exit_code == 1
    assert result.output.strip() == (
        f"Error: no Dagster daemon has sent a heartbeat to the instance in {deployment.home} in the last 90 s, so "
        f"the run queue would never start this run: start it (zensync dev, or dagster-daemon run) or run here "
        f"with --in-process")
    assert deployment.runs() == []
    # --in-process keeps the single-machine way: the run executes here, recorded in the same instance.
    result = CliRunner().invoke(main, ["sync", "customers", "stripe", "--in-process"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    [record] = deployment.runs()
    assert record.dagster_run.status == DagsterRunStatus.SUCCESS and ".dagster/grpc_info" not in record.dagster_run.tags
    assert "run " + record.dagster_run.run_id + ": queued" not in result.output


@pytest.mark.parametrize("backend", ["sqlite"])
def test_without_a_deployment_instance_or_zensync_dev_the_run_goes_on_here_in_one_line(deployment, monkeypatch,
                                                                                      tmp_path):
    """No DAGSTER_HOME: the instance is zensync dev's in the data folder, and dev is not running, so nothing else
    runs there and no daemon will come: the command runs the job itself, as before the queue, and says so."""
    monkeypatch.delenv("DAGSTER_HOME")
    result = CliRunner().invoke(main, ["sync", "customers", "stripe"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    home = tmp_path / "dagster_home"
    assert f"zensync dev is not running ({home}): running sync_customers_stripe in this process" in result.output
    with DagsterInstance.from_config(str(home)) as instance:
        assert instance.run_coordinator.__class__.__name__ == "QueuedRunCoordinator"  # dev's queue, not used here
        [record] = instance.get_run_records(RunsFilter(job_name=JOB))
        assert record.dagster_run.status == DagsterRunStatus.SUCCESS
    assert set(deployment.remote()) == {str(i) for i in range(1, ROWS + 1)} - {"7"}  # row 7 is invalid


def _beat(home, seconds_ago):
    from dagster._daemon.types import DaemonHeartbeat

    with DagsterInstance.from_config(home) as instance:
        instance.add_daemon_heartbeat(DaemonHeartbeat(time.time() - seconds_ago, "QUEUED_RUN_COORDINATOR", None,
                                                      None))


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_daemon_counts_as_there_while_it_beats_or_launches_a_run(deployment):
    from zensync_pipelines.definitions import defs

    with DagsterInstance.from_config(deployment.home) as instance:
        assert not queue_daemon_alive(instance)  # never beat
    _beat(deployment.home, 100)
    with DagsterInstance.from_config(deployment.home) as instance:
        assert not queue_daemon_alive(instance)  # 100 s ago: gone
        # ... unless it is inside a launch, which can outlast a heartbeat on a busy machine.
        run = instance.create_run_for_job(defs.resolve_job_def(JOB), status=DagsterRunStatus.STARTING)
        assert queue_daemon_alive(instance)
        instance.report_run_failed(run)
        assert not queue_daemon_alive(instance)
    _beat(deployment.home, 80)
    with DagsterInstance.from_config(deployment.home) as instance:
        assert queue_daemon_alive(instance)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_queued_run_whose_daemon_stops_beating_ends_the_wait_in_one_line(deployment):
    """The daemon beat 85 s ago, so the run is submitted; a few seconds later the beat is too old and the command
    stops following with one line: the run stays queued for the daemon's return."""
    _beat(deployment.home, 85)
    result = CliRunner().invoke(main, ["retry", "customers", "stripe"], catch_exceptions=False)
    [record] = deployment.runs()
    run_id = record.dagster_run.run_id
    assert result.exit_code == 1 and record.dagster_run.status == DagsterRunStatus.QUEUED
    assert result.output.splitlines()[0].startswith(f"run {run_id}: queued")
    assert result.output.splitlines()[-1].startswith(f"Error: run {run_id} stays queued: no Dagster daemon has sent "
                                                     f"a heartbeat to the instance in {deployment.home}")
    assert result.output.splitlines()[-1].endswith("so nothing dequeues it until one runs again: start it (zensync "
                                                   "dev, or dagster-daemon run) or run here with --in-process")


@pytest.mark.parametrize("backend", ["sqlite"])
def test_ctrl_c_stops_following_and_leaves_the_run_to_the_deployment(deployment):
    import signal

    _beat(deployment.home, 0)  # a daemon that beats but, here, never dequeues: the run waits in the queue
    command = deployment.zensync("sync", "customers", "stripe")
    first = command.stdout.readline()
    assert ": queued" in first, first + command.communicate()[0]
    command.send_signal(signal.SIGINT)
    code, rest = _finish(command, timeout=60)
    [record] = deployment.runs()
    run_id = record.dagster_run.run_id
    assert code == 130 and record.dagster_run.status == DagsterRunStatus.QUEUED
    assert rest.strip() == f"stopped following run {run_id}; it goes on: the Dagster UI's Runs page (instance " \
                           f"{deployment.home}), run {run_id}"
