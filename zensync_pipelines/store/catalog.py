"""Reads a user's catalog table as its spec describes it. zensync never owns these tables nor changes their columns
(on PostgreSQL, when their owner asks with `zensync db upgrade --wake-triggers`, one trigger that only notifies:
store/wake_triggers.py)."""

from __future__ import annotations

import datetime as dt
from contextlib import contextmanager
from typing import Any, Iterator, Optional, Sequence

from sqlalchemy import Engine, MetaData, String, Table, and_, case, cast, func, literal, or_, select, update
from sqlalchemy.exc import NoSuchTableError

from ..engine.spec import CatalogSpec, Children, SpecError
from ..engine.settled import DIGEST, HAD_DIGEST, Settled
from ..engine.sync import Selection
from ..engine.types import WriteBack
from .sqlite_types import timestamp_overrides
from .tables import DEFAULT_TENANT, row_digests



class CatalogTables:
    """Catalog rows in keyset-paginated chunks, so memory stays flat however large the table is.

    Bound to one tenant: of a catalog whose spec names a `tenant_column`, only the rows holding this tenant are
    read, watched, counted and written (children too, by the same column); of any other, every row."""

    def __init__(self, engine: Engine, tenant: str = DEFAULT_TENANT):
        self.engine, self.tenant = engine, tenant
        self._tables: dict[str, Table] = {}

    def _reflect(self, spec: CatalogSpec, name: str, columns: list[str]) -> Table:
        if name not in self._tables:
            try:
                with self.engine.connect() as connection:
                    overrides = timestamp_overrides(connection, name) if self.engine.dialect.name == "sqlite" else []
                    table = Table(name, MetaData(), *overrides, autoload_with=connection)
            except NoSuchTableError:
                raise SpecError(f"catalog spec {spec.name!r} ({spec.source}): table {name!r} does not exist "
                                f"in the catalog database") from None
            self._tables[name] = table
        missing = [c for c in columns if c not in self._tables[name].c]
        if missing:
            named = (repr(m) + (" (the spec's tenant_column)" if m == spec.tenant_column else "") for m in missing)
            raise SpecError(f"catalog spec {spec.name!r} ({spec.source}): table {name!r} has no column "
                            f"{', '.join(named)}")
        return self._tables[name]

    def table(self, spec: CatalogSpec) -> Table:
        return self._reflect(spec, spec.table, spec.columns + _tenant_column(spec))

    def child_table(self, spec: CatalogSpec, child: Children) -> Table:
        return self._reflect(spec, child.table, child.read_columns + [child.cursor_column] + _tenant_column(spec))

    def mine(self, spec: CatalogSpec, table: Table) -> list[Any]:
        """The condition that keeps this tenant's rows of `table` (the catalog's or a child's): none without a
        tenant column."""
        return [table.c[spec.tenant_column] == self.tenant] if spec.tenant_column else []

    def tenant_values(self, spec: CatalogSpec) -> dict[str, Any]:
        """What a row created for this tenant holds besides its fields (inbound imports)."""
        return {spec.tenant_column: self.tenant} if spec.tenant_column else {}

    def _children_changed_since(self, spec: CatalogSpec, since: Any) -> list[Any]:
        """One subquery per child table: the parent keys of children whose cursor is at or after `since`."""
        subqueries = []
        for child in spec.children:
            table = self.child_table(spec, child)
            subqueries.append(select(table.c[child.foreign_key]).where(table.c[child.cursor_column] >= since,
                                                                       *self.mine(spec, table)))
        return subqueries

    def _where(self, spec: CatalogSpec, selection: Selection) -> list[Any]:
        table = self.table(spec)
        conditions = self.mine(spec, table)
        if selection.changed_since is not None:
            key = table.c[spec.primary_key]
            via_children = self._children_changed_since(spec, selection.changed_since)
            conditions.append(or_(table.c[spec.cursor_column] >= selection.changed_since,
                                  *(key.in_(subquery) for subquery in via_children)))
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
        if selection.settled is not None:
            yield from self._unsettled_chunks(spec, selection, selection.settled, chunk_size)
            return
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
                result = connection.execute(query)
                names = list(result.keys())
                # One fetch per chunk and plain dicts: per-row fetches and Row mappings cost more than the query.
                rows = [dict(zip(names, row)) for row in result.all()]
                if not rows:
                    return
                self._attach_children(connection, spec, rows)
                yield rows
                last = rows[-1][spec.primary_key]

    def settled_counts(self, spec: CatalogSpec, selection: Selection) -> list[tuple[Any, int]]:
        """How many rows a read with `selection.settled` leaves out, per created-at month: (a created-at value of
        that month, or the value itself where the column holds no date; count). Counted in the database: fetching
        100,000 keys to count them in Python took longer than the rest of a run with nothing to do."""
        month = self._month_of(self.table(spec).c[spec.created_at_column])
        query = self._digest_query(spec, selection, selection.settled, [month, func.count()], settled_only=True)
        with self._digest_read() as connection:
            return [(value, int(count)) for value, count in connection.execute(query.group_by(month))]

    def _month_of(self, created: Any) -> Any:
        """One value for all rows of a created-at month, as the engine's grouping reads a row's month: its own
        calendar fields, no time zone conversion."""
        try:
            is_date = issubclass(created.type.python_type, dt.date)
        except NotImplementedError:
            is_date = False
        if self.engine.dialect.name == "postgresql":
            return func.date_trunc("month", created) if is_date else created
        # SQLite keeps datetimes as ISO text: its first seven characters are the month. Other values stand alone.
        return case((func.typeof(created) == "text", func.substr(created, 1, 7).concat("-01")), else_=created)

    def _digest_query(self, spec: CatalogSpec, selection: Selection, settled: Settled, settled_columns: list[Any],
                      settled_only: bool = False) -> Any:
        """The catalog joined to its stored digests: rows whose digest differs or is missing, each with its digest
        now (DIGEST) and whether one was stored (HAD_DIGEST); or, `settled_only`, `settled_columns` of the rows
        whose digest is unchanged."""
        table = self.table(spec)
        key, columns = table.c[spec.primary_key], [table.c[name] for name in spec.columns]
        d = row_digests.c
        if self.engine.dialect.name == "postgresql":
            # The row's text form, as PostgreSQL prints a record, and the spec's digest: MD5 in the server.
            digest = func.md5(cast(func.row(*columns), String) + literal(settled.salt, String))
        else:
            digest = func.zs_digest(literal(settled.salt, String), *columns)  # registered by store/db.py
        joined = table.outerjoin(row_digests, and_(
            d.tenant == self.tenant, d.catalog == spec.name, d.system == settled.system,
            d.internal_id == cast(key, String)))
        if settled_only:
            return select(*settled_columns).select_from(joined).where(*self._where(spec, selection),
                                                                      d.digest == digest)
        return select(*columns, digest.label(DIGEST), d.digest.is_not(None).label(HAD_DIGEST)) \
            .select_from(joined).where(*self._where(spec, selection), or_(d.digest.is_(None), d.digest != digest)) \
            .order_by(key)

    @contextmanager
    def _digest_read(self) -> Iterator[Any]:
        with self.engine.connect() as connection:
            if connection.dialect.name == "postgresql":
                # Right after a large run the digests have no statistics yet, and the planner's guess of one
                # row makes a nested loop over every pair: a hash or merge join is right at any size.
                connection.exec_driver_sql("SET LOCAL enable_nestloop = off")
            yield connection

    def _unsettled_chunks(self, spec: CatalogSpec, selection: Selection, settled: Settled,
                          chunk_size: int) -> Iterator[list[dict]]:
        """Rows whose stored digest differs or is missing (_digest_query). One streamed query, not keyset pages:
        the database joins the catalog to the digests once (a hash join, a fraction of a second for 100,000 rows)
        however few rows come out."""
        query = self._digest_query(spec, selection, settled, [])
        with self._digest_read() as connection:
            result = connection.execution_options(stream_results=True, yield_per=chunk_size).execute(query)
            names = list(result.keys())
            for part in result.partitions(chunk_size):
                rows = [dict(zip(names, row)) for row in part]
                self._attach_children(connection, spec, rows)
                yield rows

    def _attach_children(self, connection: Any, spec: CatalogSpec, rows: list[dict]) -> None:
        """One query per child table and chunk; each parent gets its children, in primary-key order."""
        for child in spec.children:
            table = self.child_table(spec, child)
            by_parent: dict[Any, list[dict]] = {row[spec.primary_key]: [] for row in rows}
            query = select(*(table.c[c] for c in child.read_columns)) \
                .where(table.c[child.foreign_key].in_(list(by_parent)), *self.mine(spec, table)) \
                .order_by(table.c[child.primary_key])
            for found in connection.execute(query):
                values = dict(found._mapping)
                by_parent[values[child.foreign_key]].append(values)
            for row in rows:
                row[child.name] = by_parent[row[spec.primary_key]]

    def read(self, connection: Any, spec: CatalogSpec, ids: list[Any], lock: bool = False) -> list[dict]:
        """Rows by primary key with their children, inside the caller's transaction; `lock` takes row locks
        (PostgreSQL), so an inbound write never interleaves with another writer of the same rows."""
        table = self.table(spec)
        key = table.c[spec.primary_key]
        python_type = key.type.python_type
        keys = []
        for value in ids:
            try:
                keys.append(python_type(value))
            except (TypeError, ValueError):
                continue  # an id that cannot be a key of this table (a bad tag) matches no row
        query = select(*(table.c[name] for name in spec.columns)).where(key.in_(keys), *self.mine(spec, table))
        if lock and self.engine.dialect.name == "postgresql":
            query = query.with_for_update(of=table)
        result = connection.execute(query.order_by(key))
        names = list(result.keys())
        rows = [dict(zip(names, row)) for row in result.all()]
        if rows:
            self._attach_children(connection, spec, rows)
        return rows

    def write_back(self, connection: Any, spec: CatalogSpec, backs: Sequence[tuple[str, WriteBack]]) -> None:
        """The values a system decided, from its answers to zensync's writes (engine/write_back.py), inside the
        caller's transaction (which holds the write lock: the mappings are written first): one UPDATE per row,
        its objects' values merged, only while the row's cursor is still the one its writes were planned from; a
        row changed since keeps its values. The cursors are read and compared here, not in SQL: a SQLite table's
        timestamp text may be spelt otherwise than a bound value (store/sqlite_types.py)."""
        table = self.table(spec)
        key, cursor = table.c[spec.primary_key], table.c[spec.cursor_column]
        rows: dict[str, tuple[dict[str, Any], Any]] = {}
        for internal_id, back in backs:
            rows.setdefault(internal_id, ({}, back.cursor))[0].update(back.values)
        keys = {internal_id: key.type.python_type(internal_id) for internal_id in rows}
        query = select(key, cursor).where(key.in_(list(keys.values())), *self.mine(spec, table))
        if self.engine.dialect.name == "postgresql":
            query = query.with_for_update(of=table)
        now = {str(found): moved for found, moved in connection.execute(query)}
        for internal_id, (values, planned) in rows.items():
            if internal_id in now and _same(now[internal_id], planned):
                connection.execute(update(table).where(key == keys[internal_id], *self.mine(spec, table))
                                   .values(**values))

    def stats(self, spec: CatalogSpec) -> dict[str, Any]:
        """Row count, live rows and the latest change, for the catalog asset's metadata."""
        table = self.table(spec)
        live = func.count()
        if spec.soft_delete_column:
            live = func.count() - func.count(table.c[spec.soft_delete_column])
        query = select(func.count(), live, func.max(table.c[spec.cursor_column])).where(*self.mine(spec, table))
        with self.engine.connect() as connection:
            total, live_rows, latest = connection.execute(query).one()
        return {"rows": int(total), "live_rows": int(live_rows or 0), "latest_change": latest}

    def created_range(self, spec: CatalogSpec) -> tuple[Any, Any]:
        """The oldest and newest created-at of this tenant's rows (None, None for none): what a sync split into
        ranges of months must cover."""
        table = self.table(spec)
        column = table.c[spec.created_at_column]
        with self.engine.connect() as connection:
            return tuple(connection.execute(select(func.min(column), func.max(column)).where(
                *self.mine(spec, table))).one())


def _same(value: Any, other: Any) -> bool:
    """Equal cursor values; datetimes compared as instants (SQLite reads naive UTC)."""
    if isinstance(value, dt.datetime) and isinstance(other, dt.datetime):
        def utc(moment: dt.datetime) -> dt.datetime:
            return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)
        return utc(value) == utc(other)
    return value == other


def _tenant_column(spec: CatalogSpec) -> list[str]:
    return [spec.tenant_column] if spec.tenant_column else []
