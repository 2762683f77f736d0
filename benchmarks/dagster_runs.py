"""Runs a user starts by hand in the Dagster UI, timed on a running `zensync dev`, and the event log they leave.

Used by the latency scenario (one `zensync dev` for both): the one-click whole-catalog run (the sync job launched
without a partition), a backfill of four months that needs no API call (the UI's Materialize over a partition
range, through the implicit asset job), and the materializations each sensor run records.
"""

from __future__ import annotations

import time
from typing import Any, Callable

LAUNCH = """mutation($params: ExecutionParams!) { launchPipelineExecution(executionParams: $params) {
  __typename ... on LaunchRunSuccess { run { runId } } ... on PythonError { message } } }"""
BACKFILL = """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
  __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
BACKFILL_STATUS = """query($id: String!) { partitionBackfillOrError(backfillId: $id) {
  ... on PartitionBackfill { status } } }"""
RUN = """query($id: ID!) { runOrError(runId: $id) { ... on Run { status creationTime startTime endTime
  eventConnection(afterCursor: null) { events { __typename ... on MaterializationEvent { partition } } } } } }"""
RUNS_OF = """query($job: String!, $limit: Int!) { runsOrError(filter: {pipelineName: $job}, limit: $limit) {
  ... on Runs { results { runId tags { key value } } } } }"""
RUNS_OF_BACKFILL = """query($id: String!) { runsOrError(filter: {tags: [{key: "dagster/backfill", value: $id}]}) {
  ... on Runs { results { runId status creationTime startTime endTime } } } }"""
DONE = ("SUCCESS", "FAILURE", "CANCELED")


def _wait(condition: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    raise TimeoutError(f"{what} did not happen within {timeout} s")


def materializations(dev: Any, run_id: str) -> int:
    run = dev.graphql(RUN, id=run_id)["runOrError"]
    return sum(1 for e in run["eventConnection"]["events"] if e["__typename"] == "MaterializationEvent")


def sensor_run_events(dev: Any, job: str, limit: int) -> list[int]:
    """Materializations recorded by each of the newest sensor runs of `job`."""
    runs = dev.graphql(RUNS_OF, job=job, limit=limit)["runsOrError"]["results"]
    sensor_runs = [r["runId"] for r in runs if any(t["key"] == "dagster/sensor_name" for t in r["tags"])]
    return [materializations(dev, run_id) for run_id in sensor_runs]


def manual_run(dev: Any, location: str, job: str) -> dict[str, float]:
    """The launchpad's Launch with no partition chosen: seconds from the click to the run's end."""
    params = {"selector": {"repositoryLocationName": location, "repositoryName": "__repository__",
                           "jobName": job}, "runConfigData": {}}
    clicked = time.time()
    launched = dev.graphql(LAUNCH, params=params)["launchPipelineExecution"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]
    run = _wait(lambda: (r := dev.graphql(RUN, id=run_id)["runOrError"])["status"] in DONE and r, 300, "the run")
    assert run["status"] == "SUCCESS", run
    return {"total": run["endTime"] - clicked, "launch": run["startTime"] - run["creationTime"],
            "run": run["endTime"] - run["startTime"], "events": materializations(dev, run_id)}


def backfill(dev: Any, asset_path: list[str], months: list[str]) -> dict[str, float]:
    """Materialize over a range of months, as the UI launches it: a backfill the daemon runs as one run."""
    clicked = time.time()
    params = {"partitionNames": months, "assetSelection": [{"path": asset_path}]}
    launched = dev.graphql(BACKFILL, params=params)["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill_id = launched["backfillId"]
    _wait(lambda: dev.graphql(BACKFILL_STATUS, id=backfill_id)["partitionBackfillOrError"]["status"]
          in ("COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED", "CANCELED"), 300, "the backfill")
    done = time.time()
    runs = dev.graphql(RUNS_OF_BACKFILL, id=backfill_id)["runsOrError"]["results"]
    assert runs and all(r["status"] == "SUCCESS" for r in runs), runs
    first = min(runs, key=lambda r: r["creationTime"])
    return {"total": done - clicked, "runs": len(runs), "queued": first["creationTime"] - clicked,
            "run_done": max(r["endTime"] for r in runs) - clicked,
            "launch": first["startTime"] - first["creationTime"],
            "run": max(r["endTime"] for r in runs) - first["startTime"]}
