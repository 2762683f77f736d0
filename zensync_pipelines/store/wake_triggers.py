"""What makes PostgreSQL say "written": statement-level triggers that NOTIFY zensync's channel (store/pg_listen.py
listens on it, for sensor ticks that wait for a write: dagster_defs/waking.py).

Every trigger runs `zensync_wake(channel)` (migration 0011), which calls pg_notify(channel, table name) once per
statement, however many rows it touched; PostgreSQL also folds identical notifications of one transaction into one,
and delivers them at its commit only (a rolled-back write wakes nobody). The inbox gets its trigger from the
migration (AFTER INSERT: the receiver's raw psycopg2 INSERT notifies with no code of its own). A catalog table is
the user's: zensync adds AFTER INSERT OR UPDATE OR DELETE on it only when its owner asks (`zensync db upgrade
--wake-triggers`) and its role has the TRIGGER privilege; otherwise it says the statement to run instead. Sensors
only look for it (Coverage).

The channel is per deployment, since NOTIFY reaches every session of the database that listens on the name:
`zensync_wake_<schema>` of zensync's schema (current_schema(), where its tables are), hashed when that would pass
PostgreSQL's 63 bytes. The trigger is named after the channel too, so two deployments watching one table each
have their own trigger and neither replaces the other's.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Any, Iterable

from sqlalchemy import Engine, text
from sqlalchemy.exc import DBAPIError

log = logging.getLogger("zensync.wake")

FUNCTION = "zensync_wake"
PREFIX = "zensync_wake_"
NAME_BYTES = 63  # NAMEDATALEN - 1: longer channel names are refused by pg_notify, identifiers truncated
LOCK_TIMEOUT = "2s"  # CREATE TRIGGER waits for the table's writers; never hold a tick (or their next writes) long

# The function's body names no channel: each trigger passes its own, so the function is the same for everyone.
FUNCTION_SQL = f"""
CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify(TG_ARGV[0], TG_TABLE_NAME);
    RETURN NULL;
END $$"""

# Outcomes of `install`: the first two mean the watch hears the table's writes.
PRESENT, ADDED, NOT_ADDED, NO_TABLE = "present", "added", "not added", "no such table"


def channel_for(schema: str) -> str:
    name = PREFIX + schema
    if len(name.encode()) <= NAME_BYTES:
        return name
    return PREFIX + hashlib.sha256(schema.encode()).hexdigest()[:32]


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def trigger_sql(table: str, schema: str, channel: str, events: str = "INSERT OR UPDATE OR DELETE",
                table_schema: str = "") -> str:
    """`schema`: zensync's, where the function is; `table_schema`: the table's, when it is elsewhere. Qualified, so
    an owner can run it from a session with another search_path."""
    literal = "'" + channel.replace("'", "''") + "'"
    return (f"CREATE TRIGGER {quote(channel)} AFTER {events} ON {quote(table_schema or schema)}.{quote(table)} "
            f"FOR EACH STATEMENT EXECUTE FUNCTION {quote(schema)}.{FUNCTION}({literal})")


def current_schema(connection: Any) -> str:
    schema = connection.execute(text("SELECT current_schema()")).scalar()
    if schema is None:
        raise ValueError("no schema of the search_path exists: zensync's tables have nowhere to be")
    return schema


@dataclass(frozen=True)
class Outcome:
    table: str
    state: str
    line: str = ""  # what to tell the operator when the table is not covered

    @property
    def covered(self) -> bool:
        return self.state in (PRESENT, ADDED)


# The table as zensync's queries find it (its search_path), its schema, whether it has this deployment's trigger
# and whether zensync's role may add one.
_FIND = text("""
SELECT n.nspname,
       EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = r.oid AND t.tgname = :channel),
       r.oid IS NOT NULL AND has_table_privilege(r.oid, 'TRIGGER')
FROM (SELECT to_regclass(quote_ident(:table)) AS oid) r
LEFT JOIN pg_class c ON c.oid = r.oid LEFT JOIN pg_namespace n ON n.oid = c.relnamespace""")

# SQLSTATEs told apart below: the rest are reported as they are.
_DUPLICATE, _PRIVILEGE, _LOCKED, _NO_FUNCTION = "42710", "42501", "55P03", "42883"


def install(engine: Engine, tables: Iterable[str], add: bool = True) -> list[Outcome]:
    """Each table's trigger: found, added (`add`), or not, with one line saying why and what to run. Idempotent and
    cheap when present (one catalog query, no lock on the table)."""
    with engine.connect() as connection:
        schema = current_schema(connection)
    channel = channel_for(schema)
    return [_install_one(engine, table, schema, channel, add) for table in tables]


def _install_one(engine: Engine, table: str, schema: str, channel: str, add: bool) -> Outcome:
    with engine.connect() as connection:
        table_schema, present, allowed = connection.execute(_FIND, {"table": table, "channel": channel}).one()
    if table_schema is None:
        return Outcome(table, NO_TABLE, f"table {table} does not exist: `zensync db upgrade --wake-triggers` adds "
                                         f"its trigger once it does")
    if present:
        return Outcome(table, PRESENT)
    statement = trigger_sql(table, schema, channel, table_schema=table_schema)
    if not add:
        return _not_added(table, "not asked for: `zensync db upgrade --wake-triggers` adds it", statement)
    if not allowed:
        return _not_added(table, "zensync's database role lacks the TRIGGER privilege on it", statement)
    try:
        with engine.begin() as connection:
            connection.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
            connection.execute(text(statement))
    except DBAPIError as error:
        code = getattr(error.orig, "pgcode", None)
        if code == _DUPLICATE:  # another process added it meanwhile
            return Outcome(table, PRESENT)
        reason = {_PRIVILEGE: "zensync's database role may not add triggers to it",
                  _LOCKED: f"its writers held the table for more than {LOCK_TIMEOUT}; run the command again later",
                  _NO_FUNCTION: f"the function {schema}.{FUNCTION} is missing: run `zensync db upgrade` first"}.get(
            code, _first_line(error))
        return _not_added(table, reason, statement)
    return Outcome(table, ADDED)


def _not_added(table: str, reason: str, statement: str) -> Outcome:
    return Outcome(table, NOT_ADDED, f"sensors do not wait for writes to table {table}, which has no zensync wake "
                                     f"trigger ({reason}); as its owner, run: {statement}")


def _first_line(error: DBAPIError) -> str:
    message = str(error.orig or error).strip()
    return message.splitlines()[0] if message else type(error).__name__


def catalog_tables(specs: Iterable[Any]) -> list[str]:
    """The tables whose writes a catalog's change sensor waits for: the spec's table and its children's."""
    return list(dict.fromkeys(t for spec in specs for t in [spec.table, *(c.table for c in spec.children)]))


class Coverage:
    """Per watch: which catalog tables it hears about. Each table's trigger is looked for once per process, never
    added (an opt-in of the table's owner); a table not covered is looked at again after RETRY_SECONDS (its owner
    may add the trigger meanwhile), and the reason is logged once, not every tick."""

    RETRY_SECONDS = 300.0

    def __init__(self) -> None:
        self.covered: set[str] = set()
        self._retry_at: dict[str, float] = {}
        self._said: set[str] = set()

    def check(self, engine: Engine, tables: Iterable[str], now: float) -> bool:
        wanted = list(tables)
        due = [t for t in wanted if t not in self.covered and self._retry_at.get(t, 0.0) <= now]
        try:
            outcomes = install(engine, due, add=False) if due else []
        except Exception as error:  # noqa: BLE001 - the tick goes on without waiting; its own query tells the rest
            outcomes = [Outcome(t, NOT_ADDED, f"sensors do not wait for writes to table {t}: looking for its wake "
                                              f"trigger failed ({type(error).__name__})") for t in due]
        for outcome in outcomes:
            if outcome.covered:
                self.covered.add(outcome.table)
                continue
            self._retry_at[outcome.table] = now + self.RETRY_SECONDS
            if outcome.line not in self._said:
                self._said.add(outcome.line)
                # A trigger nobody asked for is the default (an opt-in), not a fault: said, not warned about.
                log.info(outcome.line)
        return all(t in self.covered for t in wanted)

