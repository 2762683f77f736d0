"""Months or tenants: how the code location partitions the copies of catalogs with a tenant column.

Without Dagster imports, so the command line can tell the choice (and its one-line error) cheaply; the partitions
themselves are in tenant_partitions.py.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from sqlalchemy import create_engine, inspect, select
from sqlalchemy.engine import make_url

from .. import config
from ..store.tables import tenants

PARTITION_BY = "ZENSYNC_PARTITION_BY"  # auto (default) | month | tenant
CHOICES = ("auto", "month", "tenant")


class PartitioningError(RuntimeError):
    """The code location cannot tell which partitions the copies have: one line, no traceback of the cause."""


def partition_by(database_url: Optional[str] = None, environ: Optional[dict[str, str]] = None) -> str:
    """`month` or `tenant`: ZENSYNC_PARTITION_BY when it says so, else `tenant` once any tenant is registered."""
    environ = os.environ if environ is None else environ
    chosen = (environ.get(PARTITION_BY) or "auto").strip().lower()
    if chosen not in CHOICES:
        raise PartitioningError(f"{PARTITION_BY}={chosen!r} is not one of {', '.join(CHOICES)}")
    if chosen != "auto":
        return chosen
    return "tenant" if any_registered(database_url or config.database_url()) else "month"


def any_registered(url: str) -> bool:
    """Whether the registry holds a tenant (False without a registry), read once at load with a throwaway
    engine."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:") \
            and not Path(parsed.database).exists():
        return False  # no database yet: nothing registered, and reading must not create the file
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table(tenants.name):
                return False
            return connection.execute(select(tenants.c.id).limit(1)).first() is not None
    except Exception as error:  # the cause may hold the URL with its password: its class only
        raise PartitioningError(
            f"cannot read the tenant registry to choose the copies' partitions ({type(error).__name__}); "
            f"start the database, or set {PARTITION_BY}=month or tenant") from None
    finally:
        engine.dispose()
