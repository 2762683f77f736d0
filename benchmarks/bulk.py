"""Fast loaders for large benchmark catalogs: demo-shaped customers and a primed mapping table.

`seed_customers` builds one dict per row and inserts through SQLAlchemy: right for the demo, hours for 10^6 rows.
Here rows are tuples made in chunks and written with the driver's bulk path (COPY on PostgreSQL, executemany in
one transaction with relaxed durability on SQLite), so a catalog grows 10k -> 100k -> 1M in seconds.
"""

from __future__ import annotations

import datetime as dt
import io
import random
from typing import Any, Iterable, Iterator, Sequence

from sqlalchemy import Engine, text

from zensync_pipelines.demo.seed import COMPANY_SUFFIX, FIRST, LAST, PLACES, SPAN_DAYS, STREETS
from zensync_pipelines.demo.tables import customers, metadata
from zensync_pipelines.engine.payload import build_payload, fingerprint
from zensync_pipelines.engine.spec import CatalogSpec

# The demo columns the generator fills; tenant_id keeps its server default (every row the default tenant's).
COLUMNS = [c.name for c in customers.columns if c.name != "tenant_id"]
CHUNK = 50_000
# The demo spreads timestamps over 2025-2026 and some land in the future; here every row last changed at least a
# day before the run, so an idle catalog has no row inside the sensor's overlap window (the steady state).
AGE = dt.timedelta(days=1)


def customer_rows(first_id: int, last_id: int, seed: int = 7) -> Iterator[list[tuple]]:
    """Rows first_id..last_id in chunks, shaped like the demo's `customer_row` but always valid: the demo's
    deliberately broken rows would turn an unchanged catalog into a run that records verdicts every time."""
    rng = random.Random(seed * 1_000_003 + first_id)
    newest = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - AGE
    oldest = newest - dt.timedelta(days=SPAN_DAYS + 90)
    span = (newest - oldest).total_seconds()
    for start in range(first_id, last_id + 1, CHUNK):
        chunk = []
        for customer_id in range(start, min(start + CHUNK, last_id + 1)):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            city, state, country, postal, currency = rng.choice(PLACES)
            name = f"{first} {last}" if rng.random() < 0.5 else f"{last} {rng.choice(COMPANY_SUFFIX)}"
            updated = oldest + dt.timedelta(seconds=rng.random() * span)
            created = updated - dt.timedelta(hours=rng.random() * 2000)
            chunk.append((
                customer_id, name, f"{first}.{last}.{customer_id}@example.com".lower().replace(" ", ""),
                f"+1555{rng.randrange(10**6, 10**7)}", f"{rng.randrange(1, 999)} {rng.choice(STREETS)}",
                f"Suite {rng.randrange(100, 999)}" if rng.random() < 1 / 3 else None,
                city, state or None, postal, country, currency, created, updated, None,
            ))
        yield chunk


def create_table(engine: Engine) -> None:
    metadata.create_all(engine, tables=[customers])


def grow(engine: Engine, rows: int) -> int:
    """Add customers up to `rows` in total (ids are 1..n with no gaps); returns how many were added."""
    with engine.connect() as connection:
        have = connection.execute(text("SELECT COALESCE(MAX(id), 0) FROM customers")).scalar()
    if rows <= have:
        return 0
    chunks = customer_rows(have + 1, rows)
    if engine.dialect.name == "postgresql":
        _copy_postgres(engine, chunks)
    else:
        _insert_sqlite(engine, chunks)
    return rows - have


def _copy(cursor: Any, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """PostgreSQL's COPY in text format: the fastest way in, an order of magnitude ahead of INSERTs."""
    buffer = io.StringIO()
    for row in rows:
        buffer.write("\t".join(_pg_text(v) for v in row))
        buffer.write("\n")
    buffer.seek(0)
    cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buffer)


def _copy_postgres(engine: Engine, chunks: Iterator[list[tuple]]) -> None:
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        for chunk in chunks:
            _copy(cursor, "customers", COLUMNS, chunk)
        raw.commit()
        # Statistics and a visibility map, as autovacuum would leave a table that is not being bulk loaded: the
        # sensor's index-only scan then reads no heap pages.
        raw.driver_connection.autocommit = True
        cursor.execute("VACUUM ANALYZE customers")
        raw.driver_connection.autocommit = False
    finally:
        raw.close()


def _pg_text(value: object) -> str:
    if value is None:
        return r"\N"
    if isinstance(value, dt.datetime):
        return value.isoformat(" ", "microseconds") + "+00"
    return str(value)


def _insert_sqlite(engine: Engine, chunks: Iterator[list[tuple]]) -> None:
    raw = engine.raw_connection()
    try:
        raw.execute("PRAGMA synchronous=OFF")  # a benchmark file: losing it to a power cut costs nothing
        raw.execute("PRAGMA cache_size=-200000")
        statement = f"INSERT INTO customers ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
        cursor = raw.cursor()
        for chunk in chunks:
            # SQLAlchemy's SQLite DateTime stores naive ISO text with microseconds; the same text compares alike.
            cursor.executemany(statement, [_sqlite_row(row) for row in chunk])
        raw.commit()
        raw.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()


def _sqlite_row(row: tuple) -> tuple:
    return tuple(v.isoformat(" ", "microseconds") if isinstance(v, dt.datetime) else v for v in row)


# -- mapping table ---------------------------------------------------------------------------------------------
MAPPING_COLUMNS = ("catalog", "internal_id", "system", "object_type", "external_id", "fingerprint", "status",
                   "attempts", "last_run_id", "created_at", "updated_at", "synced_at")


def prime_mappings(engine: Engine, spec: CatalogSpec, system: str, after: int = 0) -> int:
    """Record every catalog row as synced with the fingerprint the engine computes for it now, as if a run had
    synced the whole catalog: what an unchanged catalog's mapping table holds. Rows with a key up to `after` are
    taken as primed already (the catalog grows, the mapping table grows with it). The rows are read back from the
    table (so the values are the ones a run will see) and fingerprinted by the engine's own build_payload and
    fingerprint, so a reconcile that disagreed would show up as updates, not as a fast benchmark."""
    objects = spec.objects(system)
    columns = spec.columns
    now = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None)
    postgres = engine.dialect.name == "postgresql"
    count = 0
    reader, writer = engine.raw_connection(), engine.raw_connection()
    try:
        if not postgres:
            writer.execute("PRAGMA synchronous=OFF")
        source = reader.cursor()
        source.execute(f"SELECT {', '.join(columns)} FROM {spec.table} WHERE {spec.primary_key} > {int(after)} "
                       f"ORDER BY {spec.primary_key}")
        cursor = writer.cursor()
        while True:
            chunk = source.fetchmany(CHUNK)
            if not chunk:
                break
            values = []
            for row in chunk:
                record = dict(zip(columns, row))
                key = record[spec.primary_key]
                for obj in objects:
                    payload, errors = build_payload(obj, record)
                    assert not errors, (key, errors)
                    values.append((spec.name, str(key), system, obj.object_type, f"ext_{key}_{obj.object_type}",
                                   fingerprint(payload), "synced", 0, "primed", now, now, now))
            _write_mappings(cursor, values, postgres)
            count += len(values)
        writer.commit()
        cursor.execute("ANALYZE zensync_external_mappings" if postgres else "ANALYZE")
        writer.commit()
    finally:
        reader.close()
        writer.close()
    return count


def _write_mappings(cursor: object, values: Sequence[tuple], postgres: bool) -> None:
    if postgres:
        _copy(cursor, "zensync_external_mappings", MAPPING_COLUMNS, values)
    else:
        statement = (f"INSERT INTO zensync_external_mappings ({', '.join(MAPPING_COLUMNS)}) "
                     f"VALUES ({', '.join('?' * len(MAPPING_COLUMNS))})")
        cursor.executemany(statement, [_sqlite_row(row) for row in values])
