"""The systems registry: every entry's import paths resolve to what they say, and the docs list the entries."""

import os
import re

from zensync_pipelines.systems.base import SystemAdapter
from zensync_pipelines.systems.capabilities import Capabilities
from zensync_pipelines.systems.registry import entries, load, markdown_table

from .docs import DOCS

PAGE = DOCS / "adding-a-system.md"
TABLE = re.compile(r"(<!-- registered-systems -->\n)(.*?)(<!-- /registered-systems -->)", re.S)


def shipped():
    return [entry for entry in entries() if entry.adapter.startswith("zensync_pipelines.")]


def test_every_entry_names_what_it_says():
    assert {entry.name for entry in shipped()} == {"stripe", "salesforce"}
    for entry in entries():
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
    expected = markdown_table(shipped())
    if os.environ.get("ZENSYNC_UPDATE_DOCS") == "1":
        PAGE.write_text(TABLE.sub(lambda m: m[1] + expected + m[3], text))
        text = PAGE.read_text()
    found = TABLE.search(text)
    assert found, "docs/adding-a-system.md lost its registered-systems markers"
    assert found[2] == expected, "the registry changed: regenerate the table with ZENSYNC_UPDATE_DOCS=1"
