"""The values a fanned-out run passes between its steps, kept in the catalog database.

With the Celery executor the steps of one run execute on different machines, which share the broker, the Dagster
instance and the catalog database, and nothing else: Dagster's default IO manager writes step outputs to the local
disk of the machine that ran the step, where the next step (on another worker) cannot read them. These values are
small (a tenant and a month range in, a step's counts out), so they go in `zensync_state` under scope
"step_value", keyed by run, step and output.

When they go: a run's last step deletes its run's rows, and its parent's and root's when it is a re-execution
(it read what they left). A failed or canceled run keeps its rows for a while, because Dagster's re-execution
"from failure" reads the outputs its steps had made; every fan-out run's first step sweeps the rows of runs
that no longer need theirs: a run the instance no longer has (deleted), a run that succeeded, and a failed or
canceled run whose values are older than ZENSYNC_STEP_VALUES_KEEP_DAYS (default 7). A run still in progress
keeps its rows whatever their age.
"""

from __future__ import annotations

import datetime as dt
import os
from collections import defaultdict
from typing import Any, Callable, Optional

from dagster import DagsterRunStatus, InputContext, IOManager, OutputContext, io_manager
from sqlalchemy import Engine, delete, select

from .. import config
from ..store.state import StateStore
from ..store.tables import DEFAULT_TENANT, state

SCOPE = "step_value"
IO_MANAGER_KEY = "zensync_step_values"
DEFAULT_KEEP_DAYS = 7
ENDED = (DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED)


def _key(context: OutputContext) -> str:
    """run id/step key/output name[/mapping key]: each dynamic output of one step is a value of its own."""
    return "/".join(context.get_identifier())


class StepValues(IOManager):
    def __init__(self, engine: Engine):
        self.engine = engine
        self.states = StateStore(engine)

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        self.states.put(SCOPE, _key(context), obj)

    def load_input(self, context: InputContext) -> Any:
        key = _key(context.upstream_output)
        value = self.states.get(SCOPE, key, default=KeyError)
        if value is KeyError:
            raise KeyError(f"step value {key} is not in zensync_state: its step has not run, or its run ended")
        return value


def forget_run(engine: Engine, run_id: str) -> int:
    """Delete a run's step values (its last step, once every value was read); returns the rows deleted."""
    c = state.c
    with engine.begin() as connection:
        return connection.execute(delete(state).where(c.tenant == DEFAULT_TENANT, c.scope == SCOPE,
                                                      c.key.startswith(f"{run_id}/", autoescape=True))).rowcount


def keep_failed() -> dt.timedelta:
    """ZENSYNC_STEP_VALUES_KEEP_DAYS (a number of days, fractions allowed), else 7 days."""
    raw = os.environ.get(config.STEP_VALUES_KEEP_DAYS, "").strip()
    try:
        days = float(raw) if raw else DEFAULT_KEEP_DAYS
    except ValueError:
        raise ValueError(f"{config.STEP_VALUES_KEEP_DAYS}={raw!r} is not a number of days") from None
    if days < 0:
        raise ValueError(f"{config.STEP_VALUES_KEEP_DAYS}={raw!r} is negative")
    return dt.timedelta(days=days)


def sweep(engine: Engine, run_status: Callable[[str], Optional[DagsterRunStatus]], keep: dt.timedelta,
          now: Optional[dt.datetime] = None) -> list[str]:
    """Delete the step values of runs that need them no more (module docstring); returns those runs' ids.
    `run_status(run_id)` is the instance's status of the run, None for a run it does not have."""
    c = state.c
    now = now or dt.datetime.now(dt.timezone.utc)
    newest: dict[str, dt.datetime] = defaultdict(lambda: dt.datetime.min.replace(tzinfo=dt.timezone.utc))
    with engine.connect() as connection:
        for key, updated_at in connection.execute(select(c.key, c.updated_at).where(
                c.tenant == DEFAULT_TENANT, c.scope == SCOPE)):
            run_id = key.split("/", 1)[0]
            if updated_at.tzinfo is None:  # SQLite hands back naive UTC
                updated_at = updated_at.replace(tzinfo=dt.timezone.utc)
            newest[run_id] = max(newest[run_id], updated_at)
    swept = []
    for run_id, last in newest.items():
        status = run_status(run_id)
        if status is None or status == DagsterRunStatus.SUCCESS or (status in ENDED and now - last > keep):
            forget_run(engine, run_id)
            swept.append(run_id)
    return swept


@io_manager(required_resource_keys={"catalog_db"},
            description="Small step values in the catalog database, readable from every worker.")
def step_values_io_manager(init_context: Any) -> StepValues:
    return StepValues(init_context.resources.catalog_db.engine())
