"""Set-based writes for zensync's own tables: many rows in a handful of statements, whatever their number.

An `executemany` of an upsert costs one server round trip and one plan per row on PostgreSQL (about 3,500 rows/s
here), which made the bookkeeping of a 100,000-row Bulk job cost more than the job. Instead rows are staged in a
temporary table with the driver's fastest path (COPY on PostgreSQL; the C-level `executemany` of a plain INSERT
on SQLite) and merged set-based, so the per-row cost is the database's own: on SQLite one `INSERT ... SELECT
... ON CONFLICT DO UPDATE`; on PostgreSQL an `UPDATE ... FROM` of the rows that exist and a plain `INSERT` of the
rest (see `_merge_postgres`). Appends (the event log) are COPYed straight into their table.

Rows are tuples in the order of `columns`: only the values that vary per row. Values shared by every row of a
call (the run id, its timestamp, the catalog...) are `constants`, bound once in the statement (or, in an append's
COPY, formatted once), not converted and sent again per row: with 17 columns a row, that repetition was most of
the Python time. Rows may come as a generator: they are staged SLICE at a time, so 10^5 rows never exist as
10^5 converted texts at once.
"""

from __future__ import annotations

import datetime as dt
import io
from itertools import islice, repeat
from operator import add
from typing import Any, Iterable, Iterator, Mapping, Sequence

from sqlalchemy import Column, Connection, MetaData, Table, exists, literal, select, text, true
from sqlalchemy.exc import IntegrityError
from sqlalchemy.dialects import postgresql, sqlite

SLICE = 10_000
_NULL = "\\N"  # COPY's text format for NULL


def _slices(rows: Iterable[Sequence[Any]]) -> Iterator[list[Sequence[Any]]]:
    remaining = iter(rows)
    while chunk := list(islice(remaining, SLICE)):
        yield chunk


def _escape(text_: str) -> str:
    # COPY's text format escapes backslash, tab, newline and carriage return. `str.replace` runs in C and costs
    # next to nothing when the character is absent, the usual case; a translate table works a character at a time.
    if "\\" in text_:
        text_ = text_.replace("\\", "\\\\")
    return text_.replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _text(value: Any) -> str:
    return _NULL if value is None else _escape(value.isoformat() if isinstance(value, dt.datetime) else str(value))


def _copy_column(values: Sequence[Any]) -> list[str]:
    """One column as COPY fields. A column of text only (most of them) is joined by NUL, a character PostgreSQL
    text never holds, escaped in one pass and split again: three C calls for the whole column."""
    try:
        return _escape("\0".join(values)).split("\0")
    except TypeError:  # a NULL, a number or a timestamp among them: value by value, each distinct one once
        texts: dict[Any, str] = {}
        return [texts[v] if v in texts else texts.setdefault(v, _text(v)) for v in values]


def _copy(connection: Connection, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]],
          constants: Mapping[str, Any]) -> None:
    lines = map("\t".join, zip(*map(_copy_column, zip(*rows))))
    # The constants' fields end every line: formatted once, appended by the join itself.
    tail = "".join("\t" + _text(v) for v in constants.values()) + "\n"
    buffer = io.StringIO(tail.join(lines) + tail)
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        cursor.copy_expert(f"COPY {table} ({', '.join([*columns, *constants])}) FROM STDIN", buffer)
    finally:
        cursor.close()


def _insert_sqlite(connection: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]],
                   constants: Mapping[str, Any]) -> None:
    """sqlite3's executemany of positional tuples, with SQLAlchemy's own value conversion (e.g. DateTime to
    its text form), so the rows read back exactly as if SQLAlchemy had written them."""
    def processed(name: str, values: Sequence[Any]) -> Sequence[Any]:
        process = table.c[name].type._cached_bind_processor(connection.dialect)
        if process is None:
            return values
        done = {v: process(v) for v in set(values) if v is not None}  # repeated values converted once
        return [None if v is None else done[v] for v in values]

    names = [*columns, *constants]
    fixed = tuple(processed(name, [value])[0] for name, value in constants.items())
    columns_ = [processed(name, values) for name, values in zip(columns, zip(*rows))]
    statement = f"INSERT INTO {table.name} ({', '.join(names)}) VALUES ({', '.join('?' * len(names))})"
    cursor = connection.connection.dbapi_connection.cursor()
    try:
        cursor.executemany(statement, map(add, zip(*columns_), repeat(fixed)) if fixed else zip(*columns_))
    finally:
        cursor.close()


def _stage(connection: Connection, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]],
           constants: Mapping[str, Any]) -> None:
    if connection.dialect.name == "postgresql":
        _copy(connection, table.name, columns, rows, constants)
    else:
        _insert_sqlite(connection, table, columns, rows, constants)


def append(connection: Connection, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]],
           constants: Mapping[str, Any] | None = None) -> None:
    """Insert `rows` (no conflicts expected), each with `constants`, in the connection's transaction."""
    for chunk in _slices(rows):
        _stage(connection, table, columns, chunk, constants or {})


def upsert(connection: Connection, table: Table, key: Sequence[str], columns: Sequence[str],
           rows: Iterable[Sequence[Any]], update: Mapping[str, Any],
           constants: Mapping[str, Any] | None = None) -> None:
    """Insert `rows` (with `constants`), or update the existing row of the same `key` with `update`: column -> a
    constant, an expression, or a callable taking the incoming row (`excluded`) and returning one. One row per
    key: a single statement cannot touch a row twice (the caller keeps the last of several)."""
    constants = _key_defaults(table, key, columns) | (constants or {})
    stage = Table(f"zs_stage_{table.name}", MetaData(), *(Column(c, table.c[c].type) for c in columns))
    staged = False
    for chunk in _slices(rows):
        if not staged:
            # A temporary table of the same column types and no constraints. A failed statement rolls its
            # creation back on PostgreSQL; SQLite's driver runs DDL outside the transaction, hence the drop first.
            connection.execute(text(f"DROP TABLE IF EXISTS {stage.name}"))
            connection.execute(text(f"CREATE TEMPORARY TABLE {stage.name} AS SELECT {', '.join(columns)} "
                                    f"FROM {table.name} WHERE 1 = 0"))
            staged = True
        _stage(connection, stage, columns, chunk, {})
    if not staged:
        return
    if connection.dialect.name == "postgresql":
        _merge_postgres(connection, table, stage, key, columns, constants, update)
    else:
        # SQLite's upsert is a plain index probe per row: one INSERT ... SELECT ... ON CONFLICT is its fast path.
        _on_conflict(connection, sqlite, table, stage, key, columns, constants, update)
    connection.execute(text(f"DROP TABLE {stage.name}"))


def _key_defaults(table: Table, key: Sequence[str], columns: Sequence[str]) -> dict[str, Any]:
    """A key column the caller gives no value for takes its server default (a plain string), as a new row would:
    the UPDATE of the rows that exist must match on the value an INSERT writes (e.g. the default tenant)."""
    defaults = {}
    for name in key:
        default = table.c[name].server_default
        if name not in columns and default is not None and isinstance(getattr(default, "arg", None), str):
            defaults[name] = default.arg
    return defaults


def _source(table: Table, stage: Table, constants: Mapping[str, Any]) -> Any:
    # The constants are bound parameters of the SELECT, typed as their column (so SQLite gets SQLAlchemy's text
    # form of a DateTime).
    return select(*stage.c, *(literal(v, table.c[c].type).label(c) for c, v in constants.items()))


def _on_conflict(connection: Connection, dialect: Any, table: Table, stage: Table, key: Sequence[str],
                 columns: Sequence[str], constants: Mapping[str, Any], update: Mapping[str, Any]) -> None:
    # SQLite needs a WHERE in INSERT ... SELECT ... ON CONFLICT to parse it (its documented ambiguity).
    statement = dialect.insert(table).from_select([*columns, *constants],
                                                  _source(table, stage, constants).where(true()))
    excluded = statement.excluded
    resolved = {name: (value(excluded) if callable(value) else value) for name, value in update.items()}
    connection.execute(statement.on_conflict_do_update(index_elements=list(key), set_=resolved))


class _Incoming:
    """What `excluded` names in ON CONFLICT, for an UPDATE ... FROM the staging table: a staged column, or a
    constant bound as its column's type."""

    def __init__(self, table: Table, stage: Table, constants: Mapping[str, Any]):
        self._table, self._stage, self._constants = table, stage, constants

    def __getattr__(self, name: str) -> Any:
        if name in self._stage.c:
            return self._stage.c[name]
        return literal(self._constants[name], self._table.c[name].type)


def _merge_postgres(connection: Connection, table: Table, stage: Table, key: Sequence[str],
                    columns: Sequence[str], constants: Mapping[str, Any], update: Mapping[str, Any]) -> None:
    """An UPDATE of the rows that exist, then a plain INSERT of the rest, instead of INSERT ... ON CONFLICT.

    PostgreSQL inserts a row ON CONFLICT speculatively (insert, check every unique index, confirm), which here
    costs about twice a plain insert (100,000 rows into a table with a primary key: 1.0 s against 0.58 s) and
    1.5x an UPDATE ... FROM for rows that exist. Another transaction may insert one of the keys between the two
    statements: the unique index then refuses the INSERT, the savepoint undoes both, and the one-statement ON
    CONFLICT path runs instead, which is always right."""
    incoming = _Incoming(table, stage, constants)
    matches = [table.c[k] == getattr(incoming, k) for k in key]
    resolved = {name: (value(incoming) if callable(value) else value) for name, value in update.items()}
    # The planner needs the staging table's size: a handful of rows against a million mapping rows is an index
    # lookup each, 10^5 rows a hash join.
    connection.execute(text(f"ANALYZE {stage.name}"))
    try:
        with connection.begin_nested():
            connection.execute(table.update().where(*matches).values(resolved))
            missing = ~exists().where(*matches)
            connection.execute(table.insert().from_select([*columns, *constants],
                                                          _source(table, stage, constants).where(missing)))
    except IntegrityError:
        _on_conflict(connection, postgresql, table, stage, key, columns, constants, update)
