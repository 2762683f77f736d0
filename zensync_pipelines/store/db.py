"""Database engines for SQLite (the embedded default) and PostgreSQL (production)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url


def redact(url: str) -> str:
    """The URL as it may appear in logs and errors: never with its password."""
    return make_url(url).render_as_string(hide_password=True)


def _digest(*values: object) -> str:
    """MD5 of values as text (store/catalog.py's settled-row filter on SQLite)."""
    return hashlib.md5("\x1f".join("\x00" if v is None else str(v) for v in values).encode()).hexdigest()


def make_engine(url: str, pre_ping: bool = True) -> Engine:
    """`pre_ping` tests each pooled connection before use (a round trip); the webhook receiver turns it off: a
    dead connection there fails one commit, which is answered 5xx and delivered again, and the pool is reset."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # connect_timeout: a database host that drops packets fails a connection in seconds, not minutes.
        return create_engine(url, pool_pre_ping=pre_ping, future=True, connect_args={"connect_timeout": 10})
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, future=True, connect_args={"timeout": 30})

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(connection, _record) -> None:  # noqa: ANN001
        # WAL lets the sensor read while a run writes; Dagster runs each sync in its own process.
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()
        # PostgreSQL computes row digests with md5(); SQLite has no hash function, so it gets this one.
        connection.create_function("zs_digest", -1, _digest, deterministic=True)

    return engine
