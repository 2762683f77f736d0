"""The systems registry: every entry's import paths resolve to what they say, and the docs list the entries."""

import os

from zensync_pipelines.systems.base import SystemAdapter
from zensync_pipelines.systems.capabilities import Capabilities
from zensync_pipelines.systems.registry import REGISTRY, conformance_of, entries, load

from .. import test_systems  # noqa: F401 (the test-only systems are entries like any other)
from ..regenerate import COMMAND, SYSTEMS_PAGE, TABLE, ROOT, shipped_systems as shipped, systems_page

PAGE = ROOT / SYSTEMS_PAGE


def test_every_entry_names_what_it_says():
    """Whatever systems are registered (no list of them here): each entry resolves, under its own name, and has a
    conformance harness, named by the entry or beside its adapter."""
    assert shipped() and all(REGISTRY[entry.name] is entry for entry in entries())
    for entry in entries():
        assert conformance_of(entry) and callable(load(conformance_of(entry))), entry
        adapter = load(entry.adapter)
        assert issubclass(adapter, SystemAdapter) and adapter.name == entry.name, entry
        resource = entry.build_resource()
        assert callable(getattr(resource, "adapter", None)), entry
        assert isinstance(entry.object_capabilities("anything"), Capabilities)
        for path in (entry.sandbox, entry.conformance):
            assert path is None or callable(load(path)), path
        assert all(set(group) <= set(entry.environment) for group in entry.required), entry


def test_the_docs_list_the_registered_systems():
    text = PAGE.read_text()
    if os.environ.get("ZENSYNC_UPDATE_DOCS") == "1":  # kept: the older way to regenerate it
        PAGE.write_text(systems_page(text))
        text = PAGE.read_text()
    assert TABLE.search(text), "docs/adding-a-system.md lost its registered-systems markers"
    assert systems_page(text) == text, f"the registry changed: regenerate the table with {COMMAND}"
