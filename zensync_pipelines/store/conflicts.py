"""Reads of the conflicts the field merge recorded (engine/merge.py): the latest per catalog and system for asset
metadata and the check, and one row's for `zensync explain`. Written by the inbound writer, in its batch's
transaction (store/inbound_apply.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional

from sqlalchemy import Engine, func, select

from .state import DEFAULT_TENANT
from .tables import conflicts

SHOWN = ("recorded_at", "internal_id", "system", "object_type", "field", "catalog_value", "system_value",
         "catalog_at", "system_at", "rule", "winner")


class ConflictStore:
    def __init__(self, engine: Engine, tenant: str = DEFAULT_TENANT):
        self.engine, self.tenant = engine, tenant

    def _where(self, catalog: str, system: Optional[str], since: Optional[dt.datetime]) -> list[Any]:
        c = conflicts.c
        where = [c.tenant == self.tenant, c.catalog == catalog]
        if system is not None:
            where.append(c.system == system)
        if since is not None:
            where.append(c.recorded_at >= since)
        return where

    def count(self, catalog: str, system: Optional[str] = None, since: Optional[dt.datetime] = None) -> int:
        with self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(conflicts).where(
                *self._where(catalog, system, since))).scalar() or 0)

    def latest(self, catalog: str, system: Optional[str] = None, since: Optional[dt.datetime] = None,
               limit: int = 20) -> list[dict[str, Any]]:
        """The newest conflicts first."""
        c = conflicts.c
        query = select(*(c[name] for name in SHOWN)).where(*self._where(catalog, system, since)) \
            .order_by(c.id.desc()).limit(limit)
        with self.engine.connect() as connection:
            return [dict(r._mapping) for r in connection.execute(query)]

    def for_row(self, catalog: str, internal_id: str) -> list[dict[str, Any]]:
        """One row's conflicts, oldest first."""
        c = conflicts.c
        query = select(*(c[name] for name in SHOWN)).where(*self._where(catalog, None, None),
                                                           c.internal_id == internal_id).order_by(c.id)
        with self.engine.connect() as connection:
            return [dict(r._mapping) for r in connection.execute(query)]


def markdown(rows: list[dict[str, Any]], total: int) -> str:
    """A table of conflicts for asset and check metadata."""
    if not rows:
        return "No conflicts."

    def cell(value: Any) -> str:
        return str(value if value is not None else "").replace("|", "\\|").replace("\n", " ")[:200]

    lines = ["| recorded | row | object | field | catalog value | system value | rule | winner |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {cell(r['recorded_at'])} | {cell(r['internal_id'])} | {cell(r['system'])} {cell(r['object_type'])} "
              f"| {cell(r['field'])} | {cell(r['catalog_value'])} | {cell(r['system_value'])} | {cell(r['rule'])} "
              f"| {cell(r['winner'])} |" for r in rows]
    if total > len(rows):
        lines.append(f"\n{total - len(rows)} more not shown.")
    return "\n".join(lines)


DAY = dt.timedelta(days=1)


def day_metadata(store: ConflictStore, catalog: str, system: str, shown: int = 20) -> tuple[int, str]:
    """(conflicts of the last day, a table of the latest) for asset and check metadata."""
    since = dt.datetime.now(dt.timezone.utc) - DAY
    total = store.count(catalog, system, since)
    return total, markdown(store.latest(catalog, system, since, shown) if total else [], total)
