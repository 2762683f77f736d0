"""What the tenant sensors read in one query for all tenants: due retries, spent budgets, due inbox events.

Each query keeps to the active tenants (and the default one) with a subquery on the registry, so a disabled or
unregistered tenant's rows are never picked, and each condition leads with the tenant, the first column of the
tables' indexes: the database probes the index once per tenant instead of scanning every tenant's rows.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import Engine, and_, func, or_, select

from ..engine.retry import STALE_PENDING, TRANSIENT
from ..engine.types import FAILED, PENDING
from . import inbox
from .state import API_USAGE
from .tables import DEFAULT_TENANT, inbound_events, mappings, state, tenants
from .tenant_fields import ACTIVE


def _active(column: Any) -> Any:
    return or_(column == DEFAULT_TENANT, column.in_(select(tenants.c.id).where(tenants.c.status == ACTIVE)))


def due_retries_by_tenant(engine: Engine, catalog: str, system: str, now: dt.datetime,
                          limit: int) -> dict[str, list[str]]:
    """Per active tenant, up to `limit` rows due for a retry (MappingStore.due_retries' rule), lowest ids first."""
    c = mappings.c
    transient = (c.status == FAILED) & (c.failure_kind == TRANSIENT) & (c.next_retry_at <= now)
    orphaned = (c.status == PENDING) & (c.updated_at <= now - STALE_PENDING)
    due = select(c.tenant, c.internal_id).distinct().where(
        _active(c.tenant), c.catalog == catalog, c.system == system, transient | orphaned).subquery()
    ranked = select(due.c.tenant, due.c.internal_id, func.row_number().over(
        partition_by=due.c.tenant, order_by=due.c.internal_id).label("n")).subquery()
    query = select(ranked.c.tenant, ranked.c.internal_id).where(ranked.c.n <= limit) \
        .order_by(ranked.c.tenant, ranked.c.internal_id)
    found: dict[str, list[str]] = {}
    with engine.connect() as connection:
        for tenant, internal_id in connection.execute(query):
            found.setdefault(tenant, []).append(internal_id)
    return found


def closed_budgets(engine: Engine, system: str, now: dt.datetime) -> dict[str, dt.datetime]:
    """The active tenants whose `system` API budget is spent, with the time it resumes (retries.py's rule)."""
    c = state.c
    query = select(c.tenant, c.value).where(_active(c.tenant), c.scope == system, c.key == API_USAGE)
    closed = {}
    with engine.connect() as connection:
        for tenant, value in connection.execute(query):
            resumes = (json.loads(value) or {}).get("resumes_at")
            if resumes and dt.datetime.fromisoformat(resumes) > now:
                closed[tenant] = dt.datetime.fromisoformat(resumes)
    return closed


def newest_due_by_tenant(engine: Engine, catalog: str, system: str, now: dt.datetime) -> dict[str, int]:
    """Per active tenant with inbox events due (InboxStore's rule), the newest due event's id."""
    c = inbound_events.c
    query = select(c.tenant, func.max(c.id)).where(
        _active(c.tenant), c.catalog == catalog, c.system == system,
        or_(c.status == inbox.PENDING, and_(c.status == inbox.FAILED, c.next_attempt_at <= now))).group_by(c.tenant)
    with engine.connect() as connection:
        return dict(connection.execute(query).all())
