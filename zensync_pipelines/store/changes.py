"""Change detection on a catalog's cursor column: the sensor's query, and cursor values carried as text.

A run tag or a sensor cursor is a string, while cursor columns are timestamps, dates or numbers; `encode` and
`decode` keep the type, so a run compares the column with a value of its own type.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any, Optional

from sqlalchemy import func, select

from ..engine.spec import CatalogSpec
from .catalog import CatalogTables

Position = tuple[Any, Any]  # (cursor column value, primary key)


def encode(value: Any) -> str:
    if isinstance(value, dt.datetime):
        return json.dumps({"datetime": value.isoformat()})
    if isinstance(value, dt.date):
        return json.dumps({"date": value.isoformat()})
    return json.dumps(value)


def decode(text: str) -> Any:
    value = json.loads(text)
    if isinstance(value, dict) and "datetime" in value:
        return dt.datetime.fromisoformat(value["datetime"])
    if isinstance(value, dict) and "date" in value:
        return dt.date.fromisoformat(value["date"])
    return value


def minus(value: Any, seconds: float) -> Any:
    """The overlap floor below a cursor value; numeric cursors (versions) have no time to overlap by."""
    if isinstance(value, dt.datetime):
        return value - dt.timedelta(seconds=seconds)
    if isinstance(value, dt.date):
        return value - dt.timedelta(days=-(-seconds // 86400))
    return value


def not_after_now(value: Any) -> Any:
    """A timestamp from a writer whose clock runs ahead must not push the window past rows written now: capped
    at the present, the window keeps future-dated rows in view until their time has come, and sees today's."""
    if not isinstance(value, dt.datetime):
        return value
    now = dt.datetime.now(dt.timezone.utc)
    if value.tzinfo is None:  # SQLite hands back naive values; zensync and the demo write UTC
        now = now.replace(tzinfo=None)
    return min(value, now)


def order(position: Position) -> tuple[Any, str]:
    """Positions of a parent and its child tables side by side: child keys are text (`lines/12`)."""
    return position[0], str(position[1])


class ChangeFeed:
    """Reads positions from the (cursor column, primary key) index; never the rows themselves.

    A catalog with children (an invoice's lines) has positions in each child table too, keyed `name/id`: a line
    edited without touching its invoice moves the window, and the run's changed-since selection finds the
    invoice through the line.
    """

    def __init__(self, tables: CatalogTables):
        self.tables = tables

    def _sources(self, spec: CatalogSpec) -> list[tuple[Optional[str], Any, Any, list[Any]]]:
        """(child name or None for the catalog table, cursor column, key column, the tenant's condition) of every
        table watched."""
        table = self.tables.table(spec)
        sources = [(None, table.c[spec.cursor_column], table.c[spec.primary_key], self.tables.mine(spec, table))]
        for child in spec.children:
            child_table = self.tables.child_table(spec, child)
            sources.append((child.name, child_table.c[child.cursor_column], child_table.c[child.primary_key],
                            self.tables.mine(spec, child_table)))
        return sources

    @staticmethod
    def _position(name: Optional[str], row: Any) -> Position:
        return (row[0], row[1]) if name is None else (row[0], f"{name}/{row[1]}")

    def window(self, spec: CatalogSpec, floor: Any) -> list[Position]:
        """Every position at or after `floor`: an idle sensor tick runs exactly this, one index range scan per
        table whose cost follows the rows changed inside the overlap window, not the catalog's size."""
        positions: list[Position] = []
        with self.tables.engine.connect() as connection:
            for name, cursor, key, mine in self._sources(spec):
                query = select(cursor, key).where(cursor >= floor, *mine).order_by(cursor, key)
                positions += [self._position(name, row) for row in connection.execute(query)]
        # Each table's positions arrive in order; only children need merging in.
        return sorted(positions, key=order) if spec.children else positions

    def newest(self, spec: CatalogSpec) -> Optional[Position]:
        found = []
        with self.tables.engine.connect() as connection:
            for name, cursor, key, mine in self._sources(spec):
                row = connection.execute(select(cursor, key).where(*mine).order_by(cursor.desc(), key.desc())
                                         .limit(1)).first()
                if row is not None:
                    found.append(self._position(name, row))
        return max(found, key=order) if found else None

    def oldest_change_since(self, spec: CatalogSpec, since: Any) -> Optional[Any]:
        """The earliest cursor value after `since`: how long the oldest change not yet synced has waited."""
        table = self.tables.table(spec)
        cursor = table.c[spec.cursor_column]
        with self.tables.engine.connect() as connection:
            return connection.execute(select(func.min(cursor)).where(
                cursor > since, *self.tables.mine(spec, table))).scalar()

    def window_by_tenant(self, spec: CatalogSpec, floor: Any) -> dict[str, list[Position]]:
        """Every tenant's positions at or after `floor`, in one query per table for all tenants (a catalog with a
        tenant column): the tenant sensor's tick, whose cost follows the rows in the window, not the tenants."""
        found: dict[str, list[Position]] = {}
        with self.tables.engine.connect() as connection:
            for name, cursor, key, column in self._all_tenants(spec):
                query = select(cursor, key, column).where(cursor >= floor).order_by(cursor, key)
                for row in connection.execute(query):
                    found.setdefault(row[2], []).append(self._position(name, row))
        return {tenant: sorted(positions, key=order) for tenant, positions in found.items()} if spec.children \
            else found

    def newest_of_all(self, spec: CatalogSpec) -> Optional[Position]:
        """The newest position over every tenant's rows (the first tick of a tenant sensor)."""
        found = []
        with self.tables.engine.connect() as connection:
            for name, cursor, key, _ in self._all_tenants(spec):
                row = connection.execute(select(cursor, key).order_by(cursor.desc(), key.desc()).limit(1)).first()
                if row is not None:
                    found.append(self._position(name, row))
        return max(found, key=order) if found else None

    def tenants_with_rows(self, spec: CatalogSpec, among: Optional[list[str]] = None) -> list[str]:
        """Every tenant (of `among`, if given) that holds a row of the catalog table: one grouped query."""
        table = self.tables.table(spec)
        column = table.c[spec.tenant_column]
        query = select(column).group_by(column).order_by(column)
        with self.tables.engine.connect() as connection:
            return list(connection.execute(query if among is None else query.where(column.in_(among))).scalars())

    def _all_tenants(self, spec: CatalogSpec) -> list[tuple[Optional[str], Any, Any, Any]]:
        """(child name or None, cursor column, key column, tenant column) of every table watched, unfiltered."""
        table = self.tables.table(spec)
        sources = [(None, table.c[spec.cursor_column], table.c[spec.primary_key], table.c[spec.tenant_column])]
        for child in spec.children:
            child_table = self.tables.child_table(spec, child)
            sources.append((child.name, child_table.c[child.cursor_column], child_table.c[child.primary_key],
                            child_table.c[spec.tenant_column]))
        return sources
