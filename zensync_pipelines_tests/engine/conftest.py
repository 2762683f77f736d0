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



@pytest.fixture(autouse=True)
def both_batches(batches):
    """Every engine test runs with in-memory and with spooled batches (the `batches` fixture)."""
    return batches
