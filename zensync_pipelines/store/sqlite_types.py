"""Timestamps in a user's SQLite table whatever its DDL called them.

SQLite keeps a declared type as text and gives it an affinity. A column declared `timestamptz` (PostgreSQL's
name, used by users and by docs/adding-a-catalog.md) or `timestamp with time zone` is unknown to SQLAlchemy's
SQLite dialect, reflects as NUMERIC, and then a value like '2025-03-01 10:00:00+00' fails to read as a number
(`TypeError: must be real number, not str`). The catalog reader gives such columns this type instead.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Column, Connection, String, TypeDecorator

# A declared type naming one of these is a timestamp; exactly one of these, the dialect maps to DateTime itself.
TIMESTAMP_WORDS = ("TIMESTAMP", "DATETIME")


class SQLiteTimestamp(TypeDecorator):
    """ISO text in SQLite <-> naive UTC datetimes, as SQLAlchemy's own SQLite DateTime reads and writes them."""

    impl = String
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if isinstance(value, dt.datetime):  # stored as SQLAlchemy's SQLite DateTime stores it, so text compares
            if value.tzinfo is not None:
                value = value.astimezone(dt.timezone.utc).replace(tzinfo=None)
            return value.isoformat(sep=" ", timespec="microseconds")
        return value

    def process_result_value(self, value: Any, dialect: Any) -> Any:
        if not isinstance(value, str):
            return value  # NULL, or a number someone stored: as SQLite holds it
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            return value  # not a timestamp: left as text, as a TEXT column would read
        return parsed.astimezone(dt.timezone.utc).replace(tzinfo=None) if parsed.tzinfo else parsed


def timestamp_overrides(connection: Connection, name: str) -> list[Column]:
    """Columns of SQLite table `name` declared as a timestamp under a name SQLAlchemy does not map to one (its
    own DATETIME and TIMESTAMP keep SQLAlchemy's faster reader)."""
    declared = connection.exec_driver_sql(f'PRAGMA table_info("{name}")').all()  # cid, name, type, ..., pk
    return [Column(column, SQLiteTimestamp(), primary_key=bool(pk)) for _, column, kind, _, _, pk in declared
            if any(word in (kind or "").upper() for word in TIMESTAMP_WORDS)
            and (kind or "").upper().split("(")[0].strip() not in TIMESTAMP_WORDS]
