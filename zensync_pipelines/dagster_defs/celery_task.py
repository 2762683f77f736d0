"""The step task a `zensync worker` runs: dagster-celery's `execute_plan`, with the worker process's Dagster
instance kept between steps.

dagster-celery's own task builds a new DagsterInstance from the run's reference for every step, and Dagster's
PostgreSQL storage opens a new connection for every event it stores. Measured with py-spy in a worker (a fan-out
of small steps, docs/performance.md): the instance's construction (three storages, each inspecting its tables)
was ~21 % of a step's CPU and the connections opened per event another ~17 %, ~0.4 s of CPU per step before the
step's own work, multiplied by the load of a shared machine. Here each pool process builds the instance once per
instance reference and keeps one pooled connection per storage (as Dagster's webserver does), and everything else
is dagster-celery's task as it is: the same name and arguments, so the executor's runs need no change.

A pool process runs one step at a time, so the instance is never shared between two steps at once; it is built in
the pool process (after the fork), never inherited from the worker's parent.
"""

from __future__ import annotations

from typing import Any

from dagster import DagsterInstance
from dagster import _check as check
from dagster._core.definitions.reconstruct import ReconstructableJob
from dagster._core.events import EngineEventData
from dagster._core.execution.api import create_execution_plan, execute_plan_iterator
from dagster._grpc.types import ExecuteStepArgs
from dagster._serdes import serialize_value, unpack_value
from dagster_celery.config import TASK_EXECUTE_PLAN_NAME
from dagster_celery.core_execution_loop import DELEGATE_MARKER
from dagster_celery.executor import CeleryExecutor

# statement_timeout 0: no limit, as without pooling (a step's instance writes are never the webserver's reads);
# connections recycled hourly so a pooled one outlives no network change for long; overflow for a step's threads.
POOL = {"statement_timeout": 0, "pool_recycle": 3600, "max_overflow": 4}

_instances: dict[str, DagsterInstance] = {}


def step_instance(instance_ref: Any) -> DagsterInstance:
    """This process's instance for the reference a step names (one per deployment, in practice)."""
    key = serialize_value(instance_ref)
    instance = _instances.get(key)
    if instance is None:
        instance = DagsterInstance.from_ref(instance_ref)
        instance.optimize_for_webserver(**POOL)
        _instances[key] = instance
    return instance


def create_step_task(app: Any) -> Any:
    """Register the step task on the worker's app under dagster-celery's name."""

    @app.task(bind=True, name=TASK_EXECUTE_PLAN_NAME)
    def _execute_plan(self: Any, execute_step_args_packed: dict, executable_dict: dict) -> list:
        args = unpack_value(check.dict_param(execute_step_args_packed, "execute_step_args_packed"),
                            as_type=ExecuteStepArgs)
        instance = step_instance(args.instance_ref)
        recon_job = ReconstructableJob.from_dict(check.dict_param(executable_dict, "executable_dict"))
        run = instance.get_run_by_id(args.run_id)
        check.invariant(run, f"Could not load run {args.run_id}")
        plan = create_execution_plan(recon_job, run.run_config, step_keys_to_execute=args.step_keys_to_execute,
                                     known_state=args.known_state)
        step_keys = ", ".join(args.step_keys_to_execute or [])
        events = [instance.report_engine_event(
            f"Executing steps {step_keys} in celery worker", run,
            EngineEventData({"step_keys": step_keys, "Celery worker": self.request.hostname},
                            marker_end=DELEGATE_MARKER),
            CeleryExecutor, step_key=plan.step_handle_for_single_step_plans().to_key())]
        events.extend(execute_plan_iterator(execution_plan=plan, job=recon_job, dagster_run=run, instance=instance,
                                            retry_mode=args.retry_mode, run_config=run.run_config))
        return [serialize_value(event) for event in events]

    return _execute_plan
