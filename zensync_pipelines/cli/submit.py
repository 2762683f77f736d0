"""`zensync sync` and `retry` in a deployment with a run queue: the run goes to the instance, not this process.

The run is created here, from this process's own copy of the code location (the deployment's image or virtualenv),
under the location's name in the deployment's workspace (`ZENSYNC_CODE_LOCATION`, default `zensync`), then
submitted to the instance's QueuedRunCoordinator. From there it is a run like a sensor's: the daemon dequeues it
under the tag limits (`zensync/copy`, `zensync/lane`), and the deployment's run launcher and executor run it
(a local code server, a Kubernetes job, Celery workers). This process only follows it, one line per status change,
and prints the outcome from the run's own materializations.

Only the daemon dequeues, so a run submitted while no daemon runs would wait forever: the daemon's heartbeat is
checked first, and again while the run waits in the queue.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
from typing import Any, Callable, Optional

import click

MODULE = "zensync_pipelines.definitions"
CODE_LOCATION = "ZENSYNC_CODE_LOCATION"  # the name the daemon's workspace gives zensync's code location
DEFAULT_LOCATION = "zensync"  # workspace.yaml's, zensync dev's, and the Helm values' user deployment's
QUEUE_DAEMON = "QUEUED_RUN_COORDINATOR"
# The daemon writes a heartbeat every 30 s at most, and only between two of its iterations: one launching a run
# waits until the run's process has loaded the code location, which on a busy machine can take a minute or more.
# So: a heartbeat in the last 90 s, or a run the daemon is launching (STARTING) changed in the last 180 s (the
# run monitor's start timeout, after which such a run is failed), means a daemon is there.
HEARTBEAT_INTERVAL_SECONDS = 30.0
HEARTBEAT_TOLERANCE_SECONDS = 60.0
LAUNCH_SECONDS = 180.0
POLL_SECONDS = 0.5


def has_run_queue(instance: Any) -> bool:
    from dagster._core.run_coordinator import QueuedRunCoordinator

    return isinstance(instance.run_coordinator, QueuedRunCoordinator)


def queue_daemon_alive(instance: Any) -> bool:
    """True when the daemon that dequeues runs beat lately (its errors do not stop it dequeuing), or is busy
    launching a run."""
    import datetime as dt

    from dagster import DagsterRunStatus, RunsFilter
    from dagster._daemon.controller import get_daemon_statuses

    status = get_daemon_statuses(instance, [QUEUE_DAEMON], ignore_errors=True,
                                 heartbeat_interval_seconds=HEARTBEAT_INTERVAL_SECONDS,
                                 heartbeat_tolerance_seconds=HEARTBEAT_TOLERANCE_SECONDS)[QUEUE_DAEMON]
    if status.healthy or not status.required:
        return True
    recently = dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=LAUNCH_SECONDS)
    return bool(instance.get_run_records(RunsFilter(statuses=[DagsterRunStatus.STARTING], updated_after=recently),
                                         limit=1))


def no_daemon_line(home: str) -> str:
    return (f"no Dagster daemon has sent a heartbeat to the instance in {home} in the last "
            f"{int(HEARTBEAT_INTERVAL_SECONDS + HEARTBEAT_TOLERANCE_SECONDS)} s, so the run queue would never start "
            f"this run: start it (zensync dev, or dagster-daemon run) or run here with --in-process")


def location_name() -> str:
    return os.environ.get(CODE_LOCATION) or DEFAULT_LOCATION


def create_run(instance: Any, job_name: str, tags: dict[str, str]) -> Any:
    """The run as `dagster job launch` creates it, from an in-process copy of the code location: the job's
    snapshot and plan, and origins under the deployment's location name (the daemon finds its own code server by
    that name; a Kubernetes launcher starts the run's pod from the image named in DAGSTER_CURRENT_IMAGE, with the
    container context of DAGSTER_CONTAINER_CONTEXT, as the code server's runs)."""
    from dagster._core.remote_origin import InProcessCodeLocationOrigin
    from dagster._core.remote_representation.code_location import InProcessCodeLocation
    from dagster._core.definitions.selector import JobSubsetSelector
    from dagster._core.types.loadable_target_origin import LoadableTargetOrigin

    context = os.environ.get("DAGSTER_CONTAINER_CONTEXT")  # what `dagster api grpc` reads for the run's pod
    origin = InProcessCodeLocationOrigin(
        LoadableTargetOrigin(executable_path=sys.executable, module_name=MODULE),
        container_image=os.environ.get("DAGSTER_CURRENT_IMAGE"), location_name=location_name(),
        container_context=json.loads(context) if context else None)
    location = InProcessCodeLocation(origin, instance)
    [repository] = location.get_repositories().values()
    remote_job = location.get_job(JobSubsetSelector(location_name=location.name, repository_name=repository.name,
                                                    job_name=job_name, op_selection=None))
    plan = location.get_execution_plan(remote_job, {}, step_keys_to_execute=None, known_state=None,
                                       instance=instance).execution_plan_snapshot
    return instance.create_run(
        job_name=job_name, run_id=None, run_config={}, resolved_op_selection=None,
        step_keys_to_execute=plan.step_keys_to_execute, op_selection=None, status=None, root_run_id=None,
        parent_run_id=None, tags={**remote_job.tags, **tags}, job_snapshot=remote_job.job_snapshot,
        execution_plan_snapshot=plan, parent_job_snapshot=remote_job.parent_job_snapshot,
        remote_job_origin=remote_job.get_remote_origin(), job_code_origin=remote_job.get_python_origin(),
        asset_selection=None, asset_check_selection=None, asset_graph=repository.asset_graph)


def _queued_behind(instance: Any, run: Any, limit_tags: tuple[str, ...]) -> str:
    """Why a queued run waits, as far as zensync's own limits tell: the runs in progress that share its copy or
    lane (the queue may also wait on max_concurrent_runs or the pools)."""
    from dagster import DagsterRunStatus, RunsFilter

    busy = []
    for tag in limit_tags:
        if tag not in run.tags:
            continue
        records = instance.get_run_records(RunsFilter(tags={tag: run.tags[tag]}, statuses=[
            DagsterRunStatus.STARTING, DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]), limit=3)
        busy += [f"{r.dagster_run.run_id} ({tag}={run.tags[tag]})" for r in records
                 if r.dagster_run.run_id != run.run_id]
    return f", behind run {', '.join(dict.fromkeys(busy))}" if busy else ""


def follow(instance: Any, run_id: str, limit_tags: tuple[str, ...], home: str,
           echo: Callable[[str], None] = click.echo) -> Any:
    """Wait for the run's end, one line per status change (and, while queued, per change of the runs it waits
    behind); the finished run. Stops with one line when the run waits in the queue and the daemon stopped beating
    (it stays queued and starts when a daemon runs again)."""
    from dagster import DagsterRunStatus

    seen: Optional[tuple[DagsterRunStatus, str]] = None
    started = time.monotonic()
    while True:
        run = instance.get_run_by_id(run_id)
        why = _queued_behind(instance, run, limit_tags) if run.status == DagsterRunStatus.QUEUED else ""
        if (run.status, why) != seen:
            seen = (run.status, why)
            echo(f"run {run_id}: {run.status.value.lower()}{why} ({time.monotonic() - started:.0f} s)")
        if run.is_finished:
            return run
        if run.status == DagsterRunStatus.QUEUED and not queue_daemon_alive(instance):
            raise click.ClickException(f"run {run_id} stays queued: " + no_daemon_line(home).replace(
                "so the run queue would never start this run", "so nothing dequeues it until one runs again"))
        time.sleep(POLL_SECONDS)


def outcome(instance: Any, run_id: str) -> tuple[list[dict[str, Any]], Optional[str]]:
    """The run's materializations' metadata (its totals) and, for a failed run, the first failure's message."""
    from dagster import DagsterEventType

    months = [{k: v.value for k, v in event.dagster_event.event_specific_data.materialization.metadata.items()}
              for event in instance.all_logs(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION)]
    failures = instance.all_logs(run_id, of_type={DagsterEventType.STEP_FAILURE, DagsterEventType.RUN_FAILURE,
                                                  DagsterEventType.ENGINE_EVENT})
    reason = None
    for event in failures:
        error = getattr(event.dagster_event.event_specific_data, "error", None)
        if error is not None:
            reason = _one_line(error.message) or error.cls_name
            break
        if event.dagster_event.event_type == DagsterEventType.RUN_FAILURE:
            reason = reason or event.message
    return months, reason


def _one_line(message: str) -> str:
    """An error's first line without the exception's module path; zensync's own Failure without its class name,
    as its description is the message meant for the user."""
    line = message.strip().splitlines()[0] if message.strip() else ""
    line = re.sub(r"^(?:[A-Za-z_]\w*\.)+(?=[A-Za-z_]\w*: )", "", line)
    return line.removeprefix("Failure: ").strip()


def where_to_look(run_id: str, home: str) -> str:
    ui = os.environ.get("DAGSTER_WEBSERVER_URL")
    return f"{ui.rstrip('/')}/runs/{run_id}" if ui else f"the Dagster UI's Runs page (instance {home}), run {run_id}"

