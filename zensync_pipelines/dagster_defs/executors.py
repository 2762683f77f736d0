"""Where a run's steps execute: the deployment's choice (ZENSYNC_EXECUTOR), never the code's.

`in_process` (the default: `zensync dev`, tests, embedded SQLite) runs every step in the run's own process, which
for a sensor's one small sync is the fastest there is. `celery` hands each step to dagster-celery's executor: the
run's process only orchestrates, and `zensync worker` processes on any machine execute the steps they take from
the broker (ZENSYNC_CELERY_BROKER_URL; results over ZENSYNC_CELERY_BACKEND_URL, else RabbitMQ's `rpc://`).

Both URLs reach the executor as `{"env": ...}` sources, read when a run starts: a broker password never lands in
run config, the UI or a job snapshot. The Celery settings below are the executor's and every worker's alike
(cli/worker.py builds its app from them), because a worker only honours what both sides agree on.
"""

from __future__ import annotations

import os
from typing import Any

from dagster import ExecutorDefinition, in_process_executor

from .. import config

IN_PROCESS, CELERY = "in_process", "celery"
EXECUTORS = (IN_PROCESS, CELERY)
DEFAULT_QUEUE = "dagster"  # dagster-celery's own queue; a step's tag `dagster-celery/queue` picks another

# Why each setting:
# - acks_late + reject_on_worker_lost: a step's message is acknowledged when the step has ended, so a worker killed
#   mid-step (kill -9, a lost machine) leaves it unacknowledged and the broker hands it to another worker; the
#   engine's derived idempotency keys and per-batch commits make the second execution write nothing twice.
# - prefetch 1: a worker reserves no step it cannot start now, so a busy worker never sits on a step an idle one
#   could run (dagster-celery's default too; said here so the worker's app matches).
# - broker_connection_retry_on_startup: a worker started before the broker waits for it instead of exiting.
CELERY_SETTINGS: dict[str, Any] = {
    "task_acks_late": True,
    "task_reject_on_worker_lost": True,
    "worker_prefetch_multiplier": 1,
    "broker_connection_retry_on_startup": True,
}


class ExecutorSettingError(ValueError):
    """A setting that cannot select an executor; its message is one line naming the variable and the fix."""


def executor_choice() -> str:
    choice = (os.environ.get(config.EXECUTOR) or IN_PROCESS).strip().lower().replace("-", "_")
    if choice not in EXECUTORS:
        raise ExecutorSettingError(f"{config.EXECUTOR}={choice!r} is not one of {', '.join(EXECUTORS)}")
    return choice


def celery_queue() -> str:
    """The queue a deployment's steps go to (ZENSYNC_CELERY_QUEUE): two deployments sharing a broker keep apart."""
    return os.environ.get(config.CELERY_QUEUE, "").strip() or DEFAULT_QUEUE


def celery_settings() -> dict[str, Any]:
    return CELERY_SETTINGS | {"task_default_queue": celery_queue()}


def celery_urls() -> dict[str, str]:
    """The broker's and the result backend's URLs, as set (never logged: they may hold a password)."""
    broker = os.environ.get(config.CELERY_BROKER_URL, "").strip()
    if not broker:
        raise ExecutorSettingError(f"{config.EXECUTOR}=celery needs {config.CELERY_BROKER_URL} (e.g. "
                                   f"amqp://user:password@rabbitmq:5672//)")
    return {"broker": broker, "backend": os.environ.get(config.CELERY_BACKEND_URL, "").strip() or "rpc://"}


def job_executor() -> ExecutorDefinition:
    """The executor every zensync job (and the Definitions' default) runs with, as the environment chooses."""
    if executor_choice() == IN_PROCESS:
        return in_process_executor
    celery_urls()  # a missing broker fails the code location's load with one line, not a run later
    try:
        from dagster_celery import celery_executor
    except ImportError:
        raise ExecutorSettingError(f"{config.EXECUTOR}=celery needs the celery extra: pip install "
                                   f"'zensync_pipelines[celery]'") from None
    executor_config: dict[str, Any] = {
        "broker": {"env": config.CELERY_BROKER_URL},
        "config_source": celery_settings(),
        # Dagster retries a step that failed with RetryRequested; a lost worker is the broker's to redeliver.
        "retries": {"enabled": {}},
    }
    if os.environ.get(config.CELERY_BACKEND_URL, "").strip():
        executor_config["backend"] = {"env": config.CELERY_BACKEND_URL}
    return celery_executor.configured(executor_config)
