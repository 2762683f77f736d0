"""Row digests of settled rows (engine/settled.py): stored in sets, forgotten when a row's mapping moves on; always
of one tenant, which the calling store is bound to."""

from __future__ import annotations

from typing import Iterable, Mapping

from sqlalchemy import Connection, delete

from . import bulkwrite
from .tables import DEFAULT_TENANT, row_digests

CHUNK = 900  # below SQLite's bound-parameter limit


def store(connection: Connection, catalog: str, system: str, digests: Mapping[str, str],
          tenant: str = DEFAULT_TENANT) -> None:
    """Remember each row's digest (internal id -> digest), replacing an older one."""
    bulkwrite.upsert(connection, row_digests, ("tenant", "catalog", "system", "internal_id"),
                     ("internal_id", "digest"), digests.items(), {"digest": lambda excluded: excluded.digest},
                     constants={"tenant": tenant, "catalog": catalog, "system": system})


def forget(connection: Connection, catalog: str, system: str, internal_ids: Iterable[str],
           tenant: str = DEFAULT_TENANT) -> None:
    """Drop the digests of these rows: the next run plans them whatever their columns say."""
    ids = list(internal_ids)
    d = row_digests.c
    for start in range(0, len(ids), CHUNK):
        connection.execute(delete(row_digests).where(
            d.tenant == tenant, d.catalog == catalog, d.system == system,
            d.internal_id.in_(ids[start:start + CHUNK])))
