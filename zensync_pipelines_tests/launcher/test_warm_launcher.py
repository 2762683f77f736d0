"""The warm run launcher with a real instance and a real `dagster-daemon`: runs the daemon dequeues start as forks
of the warm process and end as Dagster's run worker ends them: success, a raising op's failure, termination from
another process (as the webserver's Terminate does), and a run process killed outright failed at once."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus
from dagster._core.launcher import WorkerStatus
from dagster._core.workspace.context import WorkspaceProcessContext
from dagster._core.workspace.load_target import WorkspaceFileTarget

from zensync_pipelines.cli.dev import INSTANCE_YAML
from zensync_pipelines.cli.submit import queue_daemon_alive
from zensync_pipelines.launcher import WarmRunLauncher
from zensync_pipelines.launcher.warm import PROCESS_TAG
from zensync_pipelines_tests.conftest import reap

from . import warm_jobs

MODULE = "zensync_pipelines_tests.launcher.warm_jobs"
ROOT = Path(__file__).resolve().parents[2]  # the checkout


class Daemon:
    def __init__(self, root: Path):
        self.home, self.markers = root / "home", root / "pids"
        self.home.mkdir()
        self.markers.mkdir()
        # zensync dev's instance (its queue, limits and launcher), the launcher warming this test's code location.
        config = yaml.safe_load(INSTANCE_YAML.read_text())
        assert config["run_launcher"]["class"] == "WarmRunLauncher"
        config["run_launcher"]["config"] = {"modules": [MODULE]}
        (self.home / "dagster.yaml").write_text(yaml.safe_dump(config))
        self.workspace = root / "workspace.yaml"
        self.workspace.write_text(yaml.safe_dump({"load_from": [{"python_module": {
            "module_name": MODULE, "location_name": "warm"}}]}))
        # PYTHONPATH: the daemon, its code server and the warm process import this test's jobs from the checkout
        # (the install holds zensync_pipelines only, not its tests).
        env = {**os.environ, "DAGSTER_HOME": str(self.home), "WARM_TEST_MARKERS": str(self.markers),
               "DAGSTER_GRPC_TIMEOUT_SECONDS": "300",
               "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        # The storage exists before the daemon starts, as `dagster dev` makes it: the daemon, its code server and the
        # warm process creating a fresh SQLite storage at once stamped its Alembic version twice ("more than one
        # head") on a loaded machine.
        self.instance = DagsterInstance.from_config(str(self.home))
        self.log = (root / "daemon.log").open("w")
        self.process = subprocess.Popen([sys.executable, "-m", "dagster._daemon", "run", "-w", str(self.workspace)],
                                        env=env, cwd=self.home, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 180
        while not queue_daemon_alive(self.instance):
            assert self.process.poll() is None, self.daemon_log()
            assert time.monotonic() < deadline, "no daemon heartbeat in 180 s\n" + self.daemon_log()
            time.sleep(0.5)
        self.context = WorkspaceProcessContext(self.instance, WorkspaceFileTarget([str(self.workspace)]))

    def daemon_log(self) -> str:
        return (self.home.parent / "daemon.log").read_text()[-4000:]

    def submit(self, job: str) -> str:
        request = self.context.create_request_context()
        remote = request.get_code_location("warm").get_repository("__repository__").get_full_job(job)
        run = self.instance.create_run_for_job(job_def=warm_jobs.defs.get_job_def(job),
                                               remote_job_origin=remote.get_remote_origin(),
                                               job_code_origin=remote.get_python_origin())
        self.instance.submit_run(run.run_id, request)
        return run.run_id

    def wait(self, run_id: str, statuses, timeout: float = 120):
        deadline = time.monotonic() + timeout
        while True:
            run = self.instance.get_run_by_id(run_id)
            if run.status in statuses:
                return run
            assert time.monotonic() < deadline, f"run {run_id} is {run.status}\n" + self.daemon_log()
            time.sleep(0.2)

    def pids(self, run_id: str) -> tuple[int, int]:
        """The run's process and its parent, as the run's own op wrote them."""
        text = (self.markers / run_id).read_text()
        return tuple(int(x) for x in text.split())

    def run_pid(self, run_id: str) -> int:
        """The pid the run's own op wrote, once the launcher has tagged the run with it too."""
        run = self.wait(run_id, [DagsterRunStatus.STARTED])
        deadline = time.monotonic() + 60
        while not ((self.markers / run_id).exists() and (self.markers / run_id).read_text()) \
                or PROCESS_TAG not in run.tags:
            assert time.monotonic() < deadline, self.daemon_log()
            time.sleep(0.1)
            run = self.instance.get_run_by_id(run_id)
        pid, _ = self.pids(run_id)
        assert yaml.safe_load(run.tags[PROCESS_TAG])["pid"] == pid
        return pid

    def stop(self) -> None:
        self.context.__exit__(None, None, None)
        self.instance.dispose()
        if self.process.poll() is None:
            self.process.terminate()
        reap(self.process, grace=30)
        self.log.close()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory):
    started = Daemon(tmp_path_factory.mktemp("warm"))
    yield started
    started.stop()


def _ended_processes(pid: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] == "Z":
                return True
        except (FileNotFoundError, ProcessLookupError):  # gone, also between opening the file and reading it
            return True
        time.sleep(0.1)
    return False


def _described(pid: int) -> str:
    """What a process that should have ended is doing: its state, parent and command line (for a failure's
    message)."""
    try:
        status = dict(line.split(":\t", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                      if ":\t" in line)
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return f"pid {pid}: gone"
    return f"pid {pid}: {status.get('State')}, parent {status.get('PPid')}, {command[:200]}"


def test_a_run_succeeds_in_a_fork_of_the_warm_process(daemon):
    run_id = daemon.submit("succeeds")
    run = daemon.wait(run_id, [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE])
    assert run.status == DagsterRunStatus.SUCCESS, daemon.daemon_log()
    assert isinstance(daemon.instance.run_launcher, WarmRunLauncher)
    pid, parent = daemon.pids(run_id)
    assert yaml.safe_load(run.tags[PROCESS_TAG])["pid"] == pid
    # Forked by the warm process (a child of the daemon), not spawned by a code server.
    assert b"zensync_pipelines.launcher.zygote" in Path(f"/proc/{parent}/cmdline").read_bytes()
    assert Path(f"/proc/{parent}/stat").read_text().split(") ")[1].split()[1] == str(daemon.process.pid)
    started = [e for e in daemon.instance.all_logs(run_id) if e.dagster_event
               and e.dagster_event.event_type == DagsterEventType.ENGINE_EVENT
               and f"Started process for run (pid: {pid})" in e.message]
    assert started  # what `dagster api execute_run` records
    # Run records stay the instance's: the queue's concurrency tags and the run's status history.
    assert [e.dagster_event.event_type for e in daemon.instance.all_logs(run_id, of_type={
        DagsterEventType.RUN_ENQUEUED, DagsterEventType.RUN_STARTING, DagsterEventType.RUN_START,
        DagsterEventType.RUN_SUCCESS})] == [DagsterEventType.RUN_ENQUEUED, DagsterEventType.RUN_STARTING,
                                           DagsterEventType.RUN_START, DagsterEventType.RUN_SUCCESS]


def test_a_raising_op_fails_the_run_with_its_error(daemon):
    run_id = daemon.submit("raises")
    run = daemon.wait(run_id, [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE])
    assert run.status == DagsterRunStatus.FAILURE
    failures = daemon.instance.all_logs(run_id, of_type=DagsterEventType.STEP_FAILURE)
    assert "the op raised on purpose" in failures[0].dagster_event.step_failure_data.error.cause.message


def test_a_run_is_terminated_from_another_process(daemon):
    run_id = daemon.submit("waits")
    pid = daemon.run_pid(run_id)
    # This test process is not the daemon that launched it, as the webserver's Terminate is not.
    launcher = daemon.instance.run_launcher
    assert launcher.check_run_worker_health(daemon.instance.get_run_by_id(run_id)).status == WorkerStatus.RUNNING
    assert launcher.terminate(run_id)
    assert daemon.wait(run_id, [DagsterRunStatus.CANCELED, DagsterRunStatus.FAILURE]).status == \
        DagsterRunStatus.CANCELED
    assert _ended_processes(pid)


def test_a_killed_run_process_fails_its_run_at_once(daemon):
    run_id = daemon.submit("waits")
    pid = daemon.run_pid(run_id)
    os.kill(pid, signal.SIGKILL)
    # Failed by the launcher on hearing of the exit, well before run monitoring's 30 s poll would.
    run = daemon.wait(run_id, [DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED], timeout=20)
    assert run.status == DagsterRunStatus.FAILURE
    messages = [e.message for e in daemon.instance.all_logs(run_id, of_type=DagsterEventType.RUN_FAILURE)]
    assert any(f"(pid {pid}) was killed by signal 9" in m for m in messages), messages
    health = daemon.instance.run_launcher.check_run_worker_health(run)
    assert health.status == WorkerStatus.FAILED


def test_the_warm_process_outlives_a_ctrl_c_and_ends_its_runs_on_sigterm(daemon):
    run_id = daemon.submit("waits")
    pid = daemon.run_pid(run_id)
    zygote = int(Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[1])
    # A Ctrl-C reaches the runs themselves; a warm process it ended could no longer stop them with the daemon.
    os.kill(zygote, signal.SIGINT)
    assert not _ended_processes(zygote, timeout=2), _described(zygote)
    os.kill(zygote, signal.SIGTERM)  # as a service manager stops it: its runs first
    assert _ended_processes(pid), _described(pid)
    assert _ended_processes(zygote), _described(zygote)
    assert daemon.wait(run_id, [DagsterRunStatus.CANCELED, DagsterRunStatus.FAILURE]).status == \
        DagsterRunStatus.FAILURE
    # The next launch starts a new warm process.
    assert daemon.wait(daemon.submit("succeeds"), [DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE]).status == \
        DagsterRunStatus.SUCCESS, daemon.daemon_log()


def test_a_run_deaf_to_sigterm_is_killed_when_the_warm_process_stops(daemon):
    run_id = daemon.submit("ignores_signals")
    pid = daemon.run_pid(run_id)
    deadline = time.monotonic() + 60
    while not (daemon.markers / f"{run_id}.deaf").exists():
        assert time.monotonic() < deadline, daemon.daemon_log()
        time.sleep(0.1)
    zygote = int(Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[1])
    os.kill(zygote, signal.SIGTERM)
    assert _ended_processes(pid, timeout=40), _described(pid)
    assert _ended_processes(zygote), _described(zygote)
    run = daemon.wait(run_id, [DagsterRunStatus.CANCELED, DagsterRunStatus.FAILURE])
    assert run.status == DagsterRunStatus.FAILURE
    messages = [e.message for e in daemon.instance.all_logs(run_id, of_type=DagsterEventType.RUN_FAILURE)]
    assert any(f"(pid {pid}) was killed by signal 9" in m for m in messages), messages
    assert f"runs ['{run_id}'] did not end within 20 s of SIGTERM; killing them" in daemon.daemon_log()


def test_a_daemon_killed_outright_still_ends_its_warm_process_and_runs(tmp_path):
    started = Daemon(tmp_path)
    try:
        run_id = started.submit("waits")
        pid = started.run_pid(run_id)
        zygote = int(Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[1])
        started.process.kill()  # kill -9: nobody is left to read what the warm process reports
        started.process.wait(timeout=30)
        assert _ended_processes(pid), f"{_described(pid)}; {_described(zygote)}\n{started.daemon_log()}"
        assert _ended_processes(zygote), f"{_described(zygote)}\n{started.daemon_log()}"
        # The run worker recorded its own interruption; the warm process, with nobody left to report to, stopped
        # its runs without failing on its closed pipe.
        assert started.wait(run_id, [DagsterRunStatus.CANCELED, DagsterRunStatus.FAILURE], timeout=30).status == \
            DagsterRunStatus.FAILURE
        log = (tmp_path / "daemon.log").read_text()
        assert "zygote.py" not in log and "BrokenPipe" not in log, log[-4000:]
    finally:
        started.stop()


def test_the_daemon_stopping_ends_its_warm_process_and_runs(tmp_path):
    started = Daemon(tmp_path)
    try:
        run_id = started.submit("waits")
        pid = started.run_pid(run_id)
        zygote = int(Path(f"/proc/{pid}/stat").read_text().split(") ")[1].split()[1])
        started.process.send_signal(signal.SIGINT)  # as dagster dev stops its daemon on zensync dev's Ctrl-C
        reap(started.process, grace=60)
        assert _ended_processes(pid), f"{_described(pid)}; {_described(zygote)}\n{started.daemon_log()}"
        assert _ended_processes(zygote), f"{_described(zygote)}\n{started.daemon_log()}"
        # Interrupted without a termination request, Dagster's run worker records the run failed (as a run of the
        # code server's processes interrupted by Ctrl-C is): ended and said, never left STARTED.
        assert started.wait(run_id, [DagsterRunStatus.CANCELED, DagsterRunStatus.FAILURE], timeout=30).status == \
            DagsterRunStatus.FAILURE
        messages = [e.message for e in started.instance.all_logs(run_id, of_type=DagsterEventType.RUN_FAILURE)]
        assert any("interrupt" in m.lower() for m in messages), messages
    finally:
        started.stop()
