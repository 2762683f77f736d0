"""Set-based writes for zensync's own tables: many rows in a handful of statements, whatever their number.

An `executemany` of an upsert costs one server round trip and one plan per row on PostgreSQL (about 3,500 rows/s
here), which made the bookkeeping of a 100,000-row Bulk job cost more than the job. Instead rows are staged in a
temporary table with the driver's fastest path (COPY on PostgreSQL; the C-level `executemany` of a plain INSERT
on SQLite) and merged with ONE `INSERT ... SELECT ... ON CONFLICT DO UPDATE`, so the per-row cost is the
database's own. Appends (the event log) are COPYed straight into their table.

Rows are dicts of column name -> value, every dict with the same keys: the callers stay readable, and a new
column is one more key. They may come as a generator: they are staged SLICE at a time, so 10^5 outcomes never
exist as 10^5 dicts at once.
"""

from __future__ import annotations

import datetime as dt
import io
from itertools import islice
from typing import Any, Iterable, Iterator, Mapping, Sequence

from sqlalchemy import Column, Connection, MetaData, Table, select, text, true
from sqlalchemy.dialects import postgresql, sqlite

SLICE = 10_000


def _slices(rows: Iterable[Mapping[str, Any]]) -> Iterator[list[Mapping[str, Any]]]:
    remaining = iter(rows)
    while chunk := list(islice(remaining, SLICE)):
        yield chunk


# COPY's text format: backslash, tab, newline and carriage return are escaped; \N is NULL.
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_column(values: list[Any]) -> list[str]:
    """One column as COPY text, a column at a time: the escaping runs once over the column joined by NUL (a
    character PostgreSQL text never holds, so splitting on it again is exact), not once per value."""
    texts: dict[Any, str] = {}  # most non-text values repeat (the run's timestamp, attempts): convert each once
    for value in values:
        if value is not None and not isinstance(value, str) and value not in texts:
            texts[value] = value.isoformat() if isinstance(value, dt.datetime) else str(value)
    plain = [("" if v is None else v) if v is None or isinstance(v, str) else texts[v] for v in values]
    escaped = "\0".join(plain).translate(_ESCAPES).split("\0")
    return [text_ if v is not None else "\\N" for v, text_ in zip(values, escaped)]


def _copy(connection: Connection, table: str, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> None:
    lines = map("\t".join, zip(*(_copy_column([row[c] for row in rows]) for c in columns)))
    buffer = io.StringIO("\n".join(lines) + "\n")
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buffer)
    finally:
        cursor.close()


def _insert_sqlite(connection: Connection, table: Table, columns: Sequence[str],
                   rows: Sequence[Mapping[str, Any]]) -> None:
    """sqlite3's executemany of positional tuples, with SQLAlchemy's own value conversion (e.g. DateTime to
    its text form), so the rows read back exactly as if SQLAlchemy had written them."""
    converted = []
    for column in columns:
        values = [row[column] for row in rows]
        process = table.c[column].type._cached_bind_processor(connection.dialect)
        if process is not None:
            done = {v: process(v) for v in set(values) if v is not None}  # repeated values converted once
            values = [None if v is None else done[v] for v in values]
        converted.append(values)
    statement = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        cursor.executemany(statement, zip(*converted))
    finally:
        cursor.close()


def _stage(connection: Connection, table: Table, columns: Sequence[str], rows: Sequence[Mapping[str, Any]]) -> None:
    if connection.dialect.name == "postgresql":
        _copy(connection, table.name, columns, rows)
    else:
        _insert_sqlite(connection, table, columns, rows)


def append(connection: Connection, table: Table, rows: Iterable[Mapping[str, Any]]) -> None:
    """Insert `rows` (no conflicts expected) in the connection's transaction."""
    for chunk in _slices(rows):
        _stage(connection, table, list(chunk[0]), chunk)


def upsert(connection: Connection, table: Table, key: Sequence[str], rows: Iterable[Mapping[str, Any]],
           update: Mapping[str, Any]) -> None:
    """Insert `rows`, or update the existing row of the same `key` with `update`: column -> a constant, an
    expression, or a callable taking the incoming row (`excluded`) and returning one. One row per key: a single
    statement cannot touch a row twice (the caller keeps the last of several)."""
    stage, columns = None, []
    for chunk in _slices(rows):
        if stage is None:
            columns = list(chunk[0])
            stage = Table(f"zs_stage_{table.name}", MetaData(), *(Column(c, table.c[c].type) for c in columns))
            # A temporary table of the same column types and no constraints. A failed statement rolls its
            # creation back on PostgreSQL; SQLite's driver runs DDL outside the transaction, hence the drop first.
            connection.execute(text(f"DROP TABLE IF EXISTS {stage.name}"))
            connection.execute(text(f"CREATE TEMPORARY TABLE {stage.name} AS SELECT {', '.join(columns)} "
                                    f"FROM {table.name} WHERE 1 = 0"))
        _stage(connection, stage, columns, chunk)
    if stage is None:
        return
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    # SQLite needs a WHERE in INSERT ... SELECT ... ON CONFLICT to parse it (its documented ambiguity).
    statement = dialect.insert(table).from_select(columns, select(*stage.c).where(true()))
    excluded = statement.excluded
    resolved = {name: (value(excluded) if callable(value) else value) for name, value in update.items()}
    connection.execute(statement.on_conflict_do_update(index_elements=list(key), set_=resolved))
    connection.execute(text(f"DROP TABLE {stage.name}"))
