"""Reads a user's catalog table as its spec describes it. zensync never owns or alters these tables."""

from __future__ import annotations

from typing import Any, Iterator, Optional

from sqlalchemy import Engine, MetaData, Table, func, select
from sqlalchemy.exc import NoSuchTableError

from ..engine.spec import CatalogSpec, SpecError
from ..engine.sync import Selection


class CatalogTables:
    """Catalog rows in keyset-paginated chunks, so memory stays flat however large the table is."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self._tables: dict[str, Table] = {}

    def table(self, spec: CatalogSpec) -> Table:
        if spec.table not in self._tables:
            try:
                table = Table(spec.table, MetaData(), autoload_with=self.engine)
            except NoSuchTableError:
                raise SpecError(f"catalog spec {spec.name!r} ({spec.source}): table {spec.table!r} does not exist "
                                f"in the catalog database") from None
            missing = [c for c in spec.columns if c not in table.c]
            if missing:
                raise SpecError(f"catalog spec {spec.name!r} ({spec.source}): table {spec.table!r} has no column "
                                f"{', '.join(repr(m) for m in missing)}")
            self._tables[spec.table] = table
        return self._tables[spec.table]

    def _where(self, spec: CatalogSpec, selection: Selection) -> list[Any]:
        table = self.table(spec)
        conditions = []
        if selection.changed_since is not None:
            conditions.append(table.c[spec.cursor_column] >= selection.changed_since)
        if selection.created_from is not None:
            conditions.append(table.c[spec.created_at_column] >= selection.created_from)
        if selection.created_before is not None:
            conditions.append(table.c[spec.created_at_column] < selection.created_before)
        if selection.ids is not None:
            key = table.c[spec.primary_key]
            python_type = key.type.python_type
            conditions.append(key.in_([python_type(i) for i in selection.ids]))
        return conditions

    def iter_chunks(self, spec: CatalogSpec, selection: Selection, chunk_size: int) -> Iterator[list[dict]]:
        table = self.table(spec)
        key = table.c[spec.primary_key]
        columns = [table.c[name] for name in spec.columns]
        conditions = self._where(spec, selection)
        last: Optional[Any] = None
        with self.engine.connect() as connection:
            while True:
                query = select(*columns).where(*conditions).order_by(key).limit(chunk_size)
                if last is not None:
                    query = query.where(key > last)
                rows = [dict(row._mapping) for row in connection.execute(query)]
                if not rows:
                    return
                yield rows
                last = rows[-1][spec.primary_key]

    def stats(self, spec: CatalogSpec) -> dict[str, Any]:
        """Row count, live rows and the latest change, for the catalog asset's metadata."""
        table = self.table(spec)
        live = func.count()
        if spec.soft_delete_column:
            live = func.count() - func.count(table.c[spec.soft_delete_column])
        query = select(func.count(), live, func.max(table.c[spec.cursor_column]))
        with self.engine.connect() as connection:
            total, live_rows, latest = connection.execute(query).one()
        return {"rows": int(total), "live_rows": int(live_rows or 0), "latest_change": latest}
