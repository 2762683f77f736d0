"""zensync's small named values between runs (poll cursors, last known API usage), JSON per (tenant, scope, key)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Optional

from sqlalchemy import Engine, select
from sqlalchemy.dialects import postgresql, sqlite

from .tables import DEFAULT_TENANT, state



class StateStore:
    def __init__(self, engine: Engine, tenant: str = DEFAULT_TENANT):
        self.engine, self.tenant = engine, tenant
        self._insert = (postgresql if engine.dialect.name == "postgresql" else sqlite).insert

    def get(self, scope: str, key: str, default: Any = None) -> Any:
        c = state.c
        query = select(c.value).where(c.tenant == self.tenant, c.scope == scope, c.key == key)
        with self.engine.connect() as connection:
            value: Optional[str] = connection.execute(query).scalar()
        return default if value is None else json.loads(value)

    def put(self, scope: str, key: str, value: Any, connection: Any = None) -> None:
        """Store `value` (JSON-serialisable); pass `connection` to share the caller's transaction."""
        row = {"tenant": self.tenant, "scope": scope, "key": key, "value": json.dumps(value, default=str),
               "updated_at": dt.datetime.now(dt.timezone.utc)}
        statement = self._insert(state).values(row)
        statement = statement.on_conflict_do_update(
            index_elements=["tenant", "scope", "key"],
            set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at})
        if connection is not None:
            connection.execute(statement)
            return
        with self.engine.begin() as own:
            own.execute(statement)


API_USAGE = "api_usage"


class ApiUsageMemory:
    """A system's last reported API usage, kept between runs: scope = the system, key "api_usage", value
    {"used", "limit", "observed_at" (ISO-8601 UTC), "resumes_at" (ISO-8601 UTC while the run share is spent)}."""

    def __init__(self, states: StateStore, system: str):
        self.states, self.system = states, system

    def load(self) -> Optional[dict[str, Any]]:
        return self.states.get(self.system, API_USAGE)

    def save(self, value: dict[str, Any]) -> None:
        self.states.put(self.system, API_USAGE, value)
