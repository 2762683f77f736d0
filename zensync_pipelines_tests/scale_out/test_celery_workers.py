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

from dagster import DagsterEventType, DagsterInstance, execute_job
from dagster._core.definitions.reconstruct import ReconstructableRepository

from zensync_pipelines.dagster_defs.celery_task import POOL
from zensync_pipelines.dagster_defs.fanout import fanout_job_name
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


def test_one_tenants_limit_holds_while_its_steps_run_on_both_workers(cluster):
    # hot: 80 rows over six months, in ranges of three months: two steps of ~40 creates, each of which alone
    # would go at CLIENT_RATE; together, unless they share one bucket, at twice that, past SANDBOX_RATE (with a
    # bucket per process, 120 rows drew 52 429s).
    rows = {"hot": 80, "cold1": 6, "cold2": 6}
    cluster.add_tenants(rows)
    accounts = cluster.accounts()
    before = dict(cluster.sandbox.rate_limited_requests)
    result, logs = _run(cluster, tenants=list(rows), months_per_step=3)
    assert result.success
    placement, windows = _placement(logs), _windows(logs)
    hot = {key: placement[key][0] for key in placement
           if key == f"{UNIT}[hot]" or key.startswith(f"{UNIT}[hot_")}  # its first range, then the others
    assert len(hot) >= 2 and set(hot.values()) == {"w1", "w2"}, hot  # the tenant's ranges on both workers
    # ... at the same time: two steps of one lane, in two processes, each free to go as fast as its bucket lets.
    spans = sorted(windows[key] for key in hot)
    assert any(a[1] > b[0] for a, b in zip(spans, spans[1:])), spans
    answered = cluster.sandbox.rate_limited_requests
    assert answered.get(accounts["hot"], 0) == before.get(accounts["hot"], 0), answered  # not one 429
    cold = {placement[key][0] for key in placement if "[cold" in key}
    assert cold == {"w1", "w2"}, placement  # other tenants' steps ran on both workers too
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
