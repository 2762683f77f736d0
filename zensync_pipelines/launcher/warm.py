"""A Dagster run launcher that starts each run as a fork of a warm process (zygote.py) instead of a new one.

Dagster's DefaultRunLauncher asks the code server to start each run, and the code server spawns a fresh Python
process that imports Dagster, the SDKs and the code location before the first step: 2.7 s on an idle machine,
7-10 s on a busy one, the largest part of a change's way to the other side. This launcher keeps one process per
launcher that has imported all of it, and forks a child per run that executes it as `dagster api execute_run`
would: the same run worker (events, run status, failure handling), the same instance.

Set it in dagster.yaml (zensync dev's instance does, zensync_pipelines/dagster_instance.yaml):

    run_launcher:
      module: zensync_pipelines.launcher
      class: WarmRunLauncher
      config:
        modules: [zensync_pipelines.definitions]   # what the warm process imports (the code location)

The runs execute on the launcher's host (the daemon's), with its Python and environment, so the daemon must see
the code location's code and settings as the code server does; one machine (zensync dev, a single-host
deployment) does. Termination is SIGTERM to the run's process, which Dagster's run worker turns into an interrupt
(the run ends CANCELED); the run monitoring daemon asks check_run_worker_health whether the process still lives.
"""

from __future__ import annotations

import json
import os
import signal
import socket
from collections.abc import Mapping
from typing import Any, Optional

from dagster import Array, Field, StringSource
from dagster._core.launcher import CheckRunHealthResult, LaunchRunContext, RunLauncher, WorkerStatus
from dagster._core.storage.dagster_run import DagsterRun
from dagster._serdes import ConfigurableClass, ConfigurableClassData

from .process import WarmProcess, process_identity

PROCESS_TAG = "zensync/run_process"  # {"host", "pid", "started"}: which process runs it, for terminate and health


class WarmRunLauncher(RunLauncher, ConfigurableClass):
    def __init__(self, inst_data: Optional[ConfigurableClassData] = None, modules: Optional[list[str]] = None):
        self._inst_data = inst_data
        self._modules = list(modules or ["zensync_pipelines.definitions"])
        self._process: Optional[WarmProcess] = None
        super().__init__()

    @property
    def inst_data(self) -> Optional[ConfigurableClassData]:
        return self._inst_data

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {"modules": Field(Array(StringSource), is_required=False,
                                 description="Modules the warm process imports before any run (the code location).")}

    @classmethod
    def from_config_value(cls, inst_data: ConfigurableClassData, config_value: Mapping[str, Any]
                          ) -> "WarmRunLauncher":
        return cls(inst_data=inst_data, **config_value)

    def _warm(self) -> WarmProcess:
        if self._process is None:
            self._process = WarmProcess(self._modules, self._on_exit)
        return self._process

    def launch_run(self, context: LaunchRunContext) -> None:
        from dagster._grpc.types import ExecuteRunArgs
        from dagster._serdes import serialize_value

        run = context.dagster_run
        args = ExecuteRunArgs(job_origin=run.job_code_origin, run_id=run.run_id,  # type: ignore[arg-type]
                              instance_ref=self._instance.get_ref())
        pid = self._warm().launch(run.run_id, serialize_value(args))
        self._instance.add_run_tags(run.run_id, {PROCESS_TAG: json.dumps(
            {"host": socket.gethostname(), "pid": pid, "started": process_identity(pid)})})

    def _on_exit(self, run_id: str, pid: int, code: int, signo: Optional[int]) -> None:
        """A run process ended: if it ended without finishing its run (killed, or it crashed before Dagster
        could record the failure), fail the run now, loudly, instead of waiting for run monitoring."""
        if not self.has_instance:
            return
        run = self._instance.get_run_by_id(run_id)
        if run is None or run.is_finished:
            return
        how = f"was killed by signal {signo}" if signo else f"exited with code {code}"
        self._instance.report_run_failed(run, f"The run's process (pid {pid}) {how} before the run finished.")

    def _recorded(self, run: DagsterRun) -> Optional[dict[str, Any]]:
        text = run.tags.get(PROCESS_TAG)
        return json.loads(text) if text else None

    def _alive(self, recorded: dict[str, Any]) -> bool:
        if recorded.get("host") != socket.gethostname():
            return True  # not ours to judge from here: assume it runs (monitoring's start timeout still holds)
        started = recorded.get("started")
        return started is not None and process_identity(recorded["pid"]) == started

    def terminate(self, run_id: str) -> bool:
        run = self._instance.get_run_by_id(run_id) if self.has_instance else None
        if run is None or run.is_finished:
            return False
        self._instance.report_run_canceling(run)
        recorded = self._recorded(run)
        if not recorded or recorded.get("host") != socket.gethostname() or not self._alive(recorded):
            self._instance.report_engine_event("No live run process to send the termination to.", run,
                                               cls=self.__class__)
            return False
        os.kill(recorded["pid"], signal.SIGTERM)  # the run worker maps SIGTERM to an interrupt: run CANCELED
        return True

    @property
    def supports_check_run_worker_health(self) -> bool:
        # Asked by the daemon's run monitoring when the daemon starts and every poll after: the warm process starts
        # then, not at the first run. Other processes that only read the instance (the webserver's instance page,
        # a Terminate) never start one.
        self._warm().start_in_background()
        return True

    def check_run_worker_health(self, run: DagsterRun) -> CheckRunHealthResult:
        recorded = self._recorded(run)
        if not recorded:
            # The run can report STARTED before launch_run has tagged it; a process that dies in between is
            # failed by _on_exit in the launching process.
            return CheckRunHealthResult(WorkerStatus.RUNNING, "no run process recorded yet")
        if self._alive(recorded):
            return CheckRunHealthResult(WorkerStatus.RUNNING, run_worker_id=str(recorded["pid"]))
        return CheckRunHealthResult(WorkerStatus.FAILED, f"the run's process (pid {recorded['pid']}) is gone",
                                    run_worker_id=str(recorded["pid"]))

    def dispose(self) -> None:
        if self._process is not None:
            self._process.close()
            self._process = None
