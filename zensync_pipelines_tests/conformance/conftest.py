import pytest

from .registry import REGISTRY


@pytest.fixture(params=sorted(REGISTRY))
def harness(request, tmp_path):
    """Once per registered system: a new system there is a new entry in REGISTRY, and every test runs on it."""
    yield from REGISTRY[request.param](request, tmp_path)
