import pytest

from zensync_pipelines.store import migrate
from zensync_pipelines.store.db import make_engine
from zensync_pipelines.store.mappings import MappingStore


@pytest.fixture
def store(tmp_path):
    """zensync's tables in a fresh SQLite file."""
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    migrate.upgrade(engine)
    return MappingStore(engine)


# The tests that run the engine against the memory system ask for the `batches` fixture
# (pytest.mark.usefixtures("batches")) and run twice, with in-memory and with spooled batches; the others (specs,
# payloads, plans, strategies' Dagster objects) never meet a batch and run once.
