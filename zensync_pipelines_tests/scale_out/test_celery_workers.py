"""Runs spread over two real Celery workers (`zensync worker`) on RabbitMQ, against the Stripe sandbox's
connected accounts, each with its own rate limit (SANDBOX_RATE) that answers 429 beyond it:

- twenty tenants' fan-out: one step per tenant, steps on both workers, every row in its own tenant's account once;
- a tenant's limit holds across workers: one tenant's month ranges run on both workers at once, and its account
  answers no 429, because both draw from the tenant's one token bucket in the catalog database;
- a worker killed with kill -9 mid-step: the broker hands its step to the other worker, the run succeeds, and
  every row is in its account exactly once (derived idempotency keys, per-batch commits).
"""

import importlib
import threading
import time
from collections import defaultdict

from dagster import DagsterEventType, DagsterInstance, RunsFilter, execute_job
from dagster._core.definitions.reconstruct import ReconstructableRepository

from zensync_pipelines.dagster_defs.celery_task import POOL
from zensync_pipelines.dagster_defs.fanout import fanout_job_name
from zensync_pipelines.store.copy_lock import copy_lock
from zensync_pipelines.store.mappings import MappingStore
from zensync_pipelines_tests.scale_out import location
from zensync_pipelines_tests.scale_out.cluster import Cluster

UNIT = "stripe__customers__unit"


def _run(cluster: Cluster, **config):
    importlib.reload(location)  # its definitions, from the environment the cluster set
    job = ReconstructableRepository.for_module(location.__name__, "defs").get_reconstructable_job(
        fanout_job_name(location.SPEC, "stripe"))
    cluster.wait_ready()
    with DagsterInstance.get() as instance:
        instance.optimize_for_webserver(**POOL)  # one pooled connection per storage, not one per event stored
        result = execute_job(job, instance, raise_on_error=False,
                             run_config={"ops": {"stripe__customers__units": {"config": config}}})
        return result, list(instance.all_logs(result.run_id))


def _placement(logs) -> dict[str, list[str]]:
    """Step key -> the Celery workers that executed it, in order (a step run twice shows two)."""
    placed = defaultdict(list)
    for entry in logs:
        event = entry.dagster_event
        if event and event.event_type == DagsterEventType.ENGINE_EVENT and "in celery worker" in event.message:
            placed[event.step_key].append(event.engine_event_data.metadata["Celery worker"].value.split("@")[0])
    return placed


def _windows(logs) -> dict[str, tuple[float, float]]:
    """Step key -> (start, end) of its successful execution."""
    start, end = {}, {}
    for entry in logs:
        event = entry.dagster_event
        if event and event.event_type == DagsterEventType.STEP_START:
            start[event.step_key] = entry.timestamp
        elif event and event.event_type == DagsterEventType.STEP_SUCCESS:
            end[event.step_key] = entry.timestamp
    return {key: (start[key], end[key]) for key in end}


def _exactly_once(cluster: Cluster, rows: dict[str, int]) -> None:
    accounts = cluster.accounts()
    for tenant, count in rows.items():
        expected = sorted(str(i) for i in range(1, count + 1))
        assert cluster.customers(accounts[tenant]) == expected, tenant  # each row once: no duplicate, none missing
        synced = MappingStore(cluster.engine, tenant).rows("customers", "stripe")
        assert sorted(m["internal_id"] for m in synced if m["status"] == "synced") == expected, tenant


def test_twenty_tenants_fan_out_over_both_workers(cluster):
    rows = {f"many{i:02d}": 1 for i in range(20)}  # the steps' spread is the point, not their size
    cluster.add_tenants(rows)
    result, logs = _run(cluster, tenants=list(rows))
    assert result.success
    placement = _placement(logs)
    units = {key: workers for key, workers in placement.items() if key.startswith(f"{UNIT}[")}
    assert len(units) == 20 and all(len(w) == 1 for w in units.values())  # one step per tenant, each run once
    by_worker = defaultdict(int)
    for workers in units.values():
        by_worker[workers[0]] += 1
    assert set(by_worker) == {"w1", "w2"} and min(by_worker.values()) >= 3, by_worker  # spread over both
    _exactly_once(cluster, rows)


def _hot(key: str) -> bool:
    return key == f"{UNIT}[hot]" or key.startswith(f"{UNIT}[hot_")  # the tenant's first range, then the others


def _waiting_hot_steps(instance, known_runs: set[str], timeout: float) -> set[str]:
    """Until two of the hot tenant's steps have logged that they wait for the copy's lock (or `timeout`): the
    hot steps that have, by then. Read from the run's event log, in this process, while the run goes on."""
    job, deadline, waiting = fanout_job_name(location.SPEC, "stripe"), time.monotonic() + timeout, set()
    while len(waiting) < 2 and time.monotonic() < deadline:
        runs = [r.run_id for r in instance.get_runs(filters=RunsFilter(job_name=job)) if r.run_id not in known_runs]
        for run_id in runs:
            waiting |= {e.step_key for e in instance.all_logs(run_id)
                        if e.step_key and _hot(e.step_key) and "waiting for another sync" in (e.user_message or "")}
        time.sleep(0.2)
    return waiting


def test_one_tenants_limit_holds_while_its_steps_run_on_both_workers(cluster):
    # hot: 80 rows over six months, in ranges of three months: two steps of ~40 creates, each of which alone
    # would go at CLIENT_RATE; together, unless they share one bucket, at twice that, past SANDBOX_RATE (with a
    # bucket per process, 120 rows drew 52 429s).
    rows = {"hot": 80, "cold1": 6, "cold2": 6}
    cluster.add_tenants(rows)
    accounts = cluster.accounts()
    before = dict(cluster.sandbox.rate_limited_requests)
    # Both ranges must run at once, on both workers, whatever the machine's load: the test holds the hot copy's
    # lock as a whole sync of it would, so each range step waits at its start, before any request or token. A
    # worker runs one step at a time and reserves none ahead (prefetch 1, late acks: dagster_defs/executors.py),
    # so the first hot step pins its worker and the second can only start on the other; once both wait, the
    # lock is released and they sync side by side (a timing-dependent placement let one worker run both).
    with DagsterInstance.get() as instance:
        known = {r.run_id for r in instance.get_runs()}
        outcome = {}
        runner = threading.Thread(target=lambda: outcome.update(
            zip(("result", "logs"), _run(cluster, tenants=list(rows), months_per_step=3))))
        with copy_lock(cluster.engine, "hot", location.SPEC.name, "stripe"):
            runner.start()
            waiting = _waiting_hot_steps(instance, known, timeout=120)
        runner.join(timeout=240)
    assert not runner.is_alive()
    result, logs = outcome["result"], outcome["logs"]
    assert result.success
    placement, windows = _placement(logs), _windows(logs)
    hot = {key: placement[key][0] for key in placement if _hot(key)}
    assert len(waiting) == 2, (waiting, hot)  # two ranges were under way before either could sync
    assert {hot[key] for key in waiting} == {"w1", "w2"}, hot  # ... one on each worker
    # ... then at the same time: two steps of one lane, in two processes, each free to go as fast as its bucket
    # lets. (Two ranges most days; three when the six months' rows span seven calendar months.)
    first, second = sorted(windows[key] for key in waiting)
    assert first[1] > second[0], (first, second)
    answered = cluster.sandbox.rate_limited_requests
    assert answered.get(accounts["hot"], 0) == before.get(accounts["hot"], 0), answered  # not one 429
    # The cold tenants' steps ran once each; on which worker depends on the queue's order (the spread over both
    # workers is the twenty tenants' test's).
    cold = {key: workers for key, workers in placement.items() if "[cold" in key}
    assert {f"{UNIT}[cold1]", f"{UNIT}[cold2]"} <= set(cold) and all(len(w) == 1 for w in cold.values()), placement
    _exactly_once(cluster, rows)


def test_a_worker_killed_mid_step_loses_nothing_and_duplicates_nothing(cluster):
    rows = {f"kill{i}": 24 for i in range(2)}  # one step per tenant: one on each worker
    cluster.add_tenants(rows)
    accounts = {t: a for t, a in cluster.accounts().items() if t in rows}
    outcome = {}
    runner = threading.Thread(target=lambda: outcome.update(zip(("result", "logs"), _run(cluster, tenants=list(rows)))))
    runner.start()
    # Until both workers are mid-step: each tenant has some of its customers, neither all (read in the sandbox's
    # own process, so the wait sends no request of its own).
    deadline = time.monotonic() + 120
    while not all(0 < cluster.made(a) < 24 for a in accounts.values()):
        assert runner.is_alive() and time.monotonic() < deadline, [cluster.made(a) for a in accounts.values()]
        time.sleep(0.05)
    cluster.kill("w1")
    runner.join(timeout=180)
    assert not runner.is_alive()
    assert outcome["result"].success
    placement = _placement(outcome["logs"])
    again = {key: workers for key, workers in placement.items() if len(workers) > 1}
    # w1's step was handed to w2 by the broker and run again there, from its start.
    assert len(again) == 1 and all(workers == ["w1", "w2"] for workers in again.values()), placement
    _exactly_once(cluster, rows)
