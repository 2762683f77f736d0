"""Read-only questions an operator asks of zensync's tables: which rows need a retry, how each catalog stands,
and one row's whole story across systems."""

from __future__ import annotations

from typing import Any, Iterator

from sqlalchemy import Engine, and_, case, func, or_, select

from ..engine.types import DELETED, SYNCED
from .mappings import MappingStore
from .tables import DEFAULT_TENANT, inbound_events, mappings, sync_events

WORST_FIRST = ("failed", "invalid", "waiting", "pending", "synced", "deleted")


class OperationsView:
    """One tenant's view: every question is asked of its rows only."""

    def __init__(self, engine: Engine, tenant: str = DEFAULT_TENANT):
        self.engine, self.tenant = engine, tenant

    def problem_ids(self, catalog: str, system: str, chunk_size: int = 900) -> Iterator[list[str]]:
        """Internal ids with an object not synced (failed, waiting, pending or invalid), in chunks."""
        return MappingStore(self.engine, self.tenant).ids_where(
            catalog, system, mappings.c.status.not_in([SYNCED, DELETED]), chunk_size)

    def summary(self, catalog: str, system: str) -> dict[str, Any]:
        """Catalog rows per status (a row counts under its worst object: a synced account with a failed contact
        is a failed row), and the last attempt recorded."""
        c, e = mappings.c, sync_events.c
        rank = case({status: index for index, status in enumerate(WORST_FIRST)}, value=c.status,
                    else_=len(WORST_FIRST))
        per_row = select(func.min(rank).label("rank")).where(c.tenant == self.tenant, c.catalog == catalog,
                                                             c.system == system) \
            .group_by(c.internal_id).subquery()
        with self.engine.connect() as connection:
            found = dict(connection.execute(select(per_row.c.rank, func.count()).group_by(per_row.c.rank)).all())
            last = connection.execute(select(e.run_id, e.occurred_at).where(
                e.tenant == self.tenant, e.catalog == catalog, e.system == system)
                .order_by(e.id.desc()).limit(1)).first()
        return {"counts": {status: found.get(index, 0) for index, status in enumerate(WORST_FIRST)},
                "last_attempt_run": last.run_id if last else None,
                "last_attempt_at": last.occurred_at if last else None,
                "next_retry_at": MappingStore(self.engine, self.tenant).next_retry(catalog, system)}

    def story(self, catalog: str, internal_id: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """The row's mappings (one per system and object) and every attempt, oldest first."""
        c, e = mappings.c, sync_events.c
        with self.engine.connect() as connection:
            found = [dict(r._mapping) for r in connection.execute(
                select(mappings).where(c.tenant == self.tenant, c.catalog == catalog, c.internal_id == internal_id)
                .order_by(c.system, c.id))]
            events = [dict(r._mapping) for r in connection.execute(
                select(sync_events).where(e.tenant == self.tenant, e.catalog == catalog, e.internal_id == internal_id)
                .order_by(e.id))]
        return found, events

    def inbound_story(self, catalog: str, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The changes made on the systems' side that reached the row (or tried to): the inbox events of its
        objects that were applied, lost a conflict or failed, oldest first. Echoes and stale events are left out."""
        e = inbound_events.c
        objects = [and_(e.system == m["system"], e.object_type == m["object_type"], e.external_id == m["external_id"])
                   for m in found if m.get("external_id")]
        if not objects:
            return []
        query = select(e.received_at, e.occurred_at, e.system, e.object_type, e.event_type, e.event_id, e.status,
                       e.outcome, e.last_error, e.attempts).where(
            e.tenant == self.tenant, e.catalog == catalog, or_(*objects), or_(e.status.in_(["applied", "failed"]),
                                                     e.outcome == "conflict_lost")).order_by(e.id)
        with self.engine.connect() as connection:
            return [dict(r._mapping) for r in connection.execute(query)]
