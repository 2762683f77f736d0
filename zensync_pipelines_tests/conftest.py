"""Shared fixtures: catalog databases on SQLite and PostgreSQL, a Stripe sandbox, Dagster resources.

PostgreSQL tests always run: ZENSYNC_TEST_POSTGRES_URL (default the local server at 127.0.0.1:5432) must be
reachable, or they fail. Each test gets its own schema, dropped afterwards.
"""

from __future__ import annotations

import os
import uuid
from typing import Iterator

import pytest
import stripe
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from zensync_pipelines.store import migrate
from zensync_pipelines.store.db import make_engine

POSTGRES_URL = os.environ.get("ZENSYNC_TEST_POSTGRES_URL", "postgresql+psycopg2://postgres@127.0.0.1:5432/test")

stripe.enable_telemetry = False


def _postgres_schema_url(schema: str) -> str:
    url = make_url(POSTGRES_URL)
    return url.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    schema = f"zs_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL)
    with admin.begin() as connection:
        connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    try:
        yield _postgres_schema_url(schema)
    finally:
        with admin.begin() as connection:
            connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'catalog.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request) -> str:
    """The catalog database, once on each backend."""
    return request.getfixturevalue("sqlite_url" if request.param == "sqlite" else "postgres_url")


@pytest.fixture
def engine(database_url) -> Iterator[Engine]:
    engine = make_engine(database_url)
    migrate.upgrade(engine)
    yield engine
    engine.dispose()
