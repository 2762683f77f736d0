"""Each tenant's last result of each check on a copy, so one check can tell every tenant's state at once.

A run checks its own tenant only (its queries stay within that tenant's part of the indexes) and keeps the
outcome here, in zensync_state (scope `checks`, key `<catalog>:<system>:<check>`, under the tenant); the check
then reads every tenant's last outcome in one query. So the cost of a check grows with its tenant's rows plus
one small row per tenant, never with every tenant's rows, however many runs a sensor tick asks for.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import Engine, or_, select

from .state import StateStore
from .tables import DEFAULT_TENANT, state, tenants
from .tenant_fields import ACTIVE

SCOPE = "checks"


def key(catalog: str, system: str, check: str) -> str:
    return f"{catalog}:{system}:{check}"


def keep(engine: Engine, tenant: str, catalog: str, system: str, check: str, passed: bool, summary: str) -> None:
    StateStore(engine, tenant).put(SCOPE, key(catalog, system, check), {
        "passed": passed, "summary": summary, "at": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")})


def every_tenant(engine: Engine, catalog: str, system: str, check: str) -> dict[str, dict[str, Any]]:
    """Each synced tenant's last outcome ({passed, summary, at}): the default tenant's and the active tenants';
    a disabled tenant is not synced and a removed one is gone, so neither counts. One query."""
    c, t = state.c, tenants.c
    query = select(c.tenant, c.value).select_from(state.outerjoin(tenants, t.id == c.tenant)).where(
        c.scope == SCOPE, c.key == key(catalog, system, check), or_(c.tenant == DEFAULT_TENANT, t.status == ACTIVE))
    with engine.connect() as connection:
        return {tenant: json.loads(value) for tenant, value in connection.execute(query)}
