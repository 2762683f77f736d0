"""How every tenant's copies stand, for `zensync status`: the operator's overview across tenants.

Two grouped queries answer for all tenants at once (rows per worst status, last attempt), not a query per tenant
and copy: a deployment of a thousand tenants has six thousand copies.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from sqlalchemy import Engine, case, func, select

from .operations import WORST_FIRST
from .tables import mappings, sync_events

Copy = tuple[str, str, str]  # (tenant, catalog, system)


def health(engine: Engine, tenants: Optional[list[str]] = None) -> dict[Copy, dict[str, Any]]:
    """Per (tenant, catalog, system) with any mapping or attempt: `counts` of catalog rows per status (a row counts
    under its worst object, as OperationsView.summary counts it) and `last_attempt_at`. `tenants` narrows it."""
    c, e = mappings.c, sync_events.c
    rank = case({status: index for index, status in enumerate(WORST_FIRST)}, value=c.status,
                else_=len(WORST_FIRST))
    per_row = select(c.tenant, c.catalog, c.system, func.min(rank).label("rank")) \
        .where(*([c.tenant.in_(tenants)] if tenants is not None else [])) \
        .group_by(c.tenant, c.catalog, c.system, c.internal_id).subquery()
    counts = select(per_row.c.tenant, per_row.c.catalog, per_row.c.system, per_row.c.rank, func.count()) \
        .group_by(per_row.c.tenant, per_row.c.catalog, per_row.c.system, per_row.c.rank)
    attempts = select(e.tenant, e.catalog, e.system, func.max(e.occurred_at)) \
        .where(*([e.tenant.in_(tenants)] if tenants is not None else [])).group_by(e.tenant, e.catalog, e.system)
    found: dict[Copy, dict[str, Any]] = {}

    def copy(key: Copy) -> dict[str, Any]:
        return found.setdefault(key, {"counts": dict.fromkeys(WORST_FIRST, 0), "last_attempt_at": None})

    with engine.connect() as connection:
        for tenant, catalog, system, index, count in connection.execute(counts):
            if index >= len(WORST_FIRST):
                continue  # a status the overview does not know; OperationsView.summary leaves it out too
            copy((tenant, catalog, system))["counts"][WORST_FIRST[index]] = int(count)
        for tenant, catalog, system, last in connection.execute(attempts):
            copy((tenant, catalog, system))["last_attempt_at"] = _utc(last)
    return found


def _utc(value: Optional[dt.datetime]) -> Optional[dt.datetime]:
    return value.replace(tzinfo=dt.timezone.utc) if value is not None and value.tzinfo is None else value
