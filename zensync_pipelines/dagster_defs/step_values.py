"""The values a fanned-out run passes between its steps, kept in the catalog database.

With the Celery executor the steps of one run execute on different machines, which share the broker, the Dagster
instance and the catalog database, and nothing else: Dagster's default IO manager writes step outputs to the local
disk of the machine that ran the step, where the next step (on another worker) cannot read them. These values are
small (a tenant and a month range in, a step's counts out), so they go in `zensync_state` under scope
"step_value", keyed by run, step and output; the run's last step deletes its run's rows.
"""

from __future__ import annotations

from typing import Any

from dagster import InputContext, IOManager, OutputContext, io_manager
from sqlalchemy import Engine, delete

from ..store.state import StateStore
from ..store.tables import DEFAULT_TENANT, state

SCOPE = "step_value"
IO_MANAGER_KEY = "zensync_step_values"


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


@io_manager(required_resource_keys={"catalog_db"},
            description="Small step values in the catalog database, readable from every worker.")
def step_values_io_manager(init_context: Any) -> StepValues:
    return StepValues(init_context.resources.catalog_db.engine())
