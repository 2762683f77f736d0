"""Row digests of settled rows (engine/settled.py): stored in sets, forgotten when a row's mapping moves on."""

from __future__ import annotations

from typing import Iterable, Mapping

from sqlalchemy import Connection, delete

from . import bulkwrite
from .tables import row_digests

DEFAULT_TENANT = "default"
CHUNK = 900  # below SQLite's bound-parameter limit


def store(connection: Connection, catalog: str, system: str, digests: Mapping[str, str]) -> None:
    """Remember each row's digest (internal id -> digest), replacing an older one."""
    bulkwrite.upsert(connection, row_digests, ("tenant", "catalog", "system", "internal_id"),
                     ("internal_id", "digest"), digests.items(), {"digest": lambda excluded: excluded.digest},
                     constants={"tenant": DEFAULT_TENANT, "catalog": catalog, "system": system})


def forget(connection: Connection, catalog: str, system: str, internal_ids: Iterable[str]) -> None:
    """Drop the digests of these rows: the next run plans them whatever their columns say."""
    ids = list(internal_ids)
    d = row_digests.c
    for start in range(0, len(ids), CHUNK):
        connection.execute(delete(row_digests).where(
            d.tenant == DEFAULT_TENANT, d.catalog == catalog, d.system == system,
            d.internal_id.in_(ids[start:start + CHUNK])))
