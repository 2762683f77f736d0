"""The shape of the house, read from the code: zensync_pipelines has no import circles, and only the command line
that starts the sandboxes imports them.

Every import counts, at the top of a module, inside a function or under TYPE_CHECKING: a circle hidden in a
function is still a circle a reader has to hold in their head, and a TYPE_CHECKING one still ties the two modules'
designs together. `from package import name` counts as an import of the submodule when `name` is one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

import zensync_pipelines

ROOT = Path(zensync_pipelines.__file__).parent
PACKAGE = "zensync_pipelines"

# Circles tolerated while a branch that breaks them is in flight: none now. A new circle fails the test; the fix
# is a third module for the shared part, or a protocol in the lower module naming what the upper one provides.
ALLOWED_CIRCLES: list[set[str]] = []

# The only product modules that import the sandboxes: `zensync dev` starting and wiring them, and the
# `zensync sandbox ...` commands that serve or drive one.
SANDBOX_IMPORTERS = {"zensync_pipelines.cli.dev", "zensync_pipelines.cli.dev_receiver",
                     "zensync_pipelines.cli.sandbox_stripe", "zensync_pipelines.cli.sandbox_salesforce",
                     "zensync_pipelines.cli.sandbox_salesforce_edit", "zensync_pipelines.cli.sandbox_stripe_edit"}
SANDBOX = "zensync_pipelines.sandbox"


def modules(root: Path = ROOT) -> dict[str, tuple[Path, bool]]:
    """Dotted module name -> (file, is a package's __init__)."""
    found = {}
    for path in root.rglob("*.py"):
        parts = [PACKAGE, *path.relative_to(root).with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        found[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    return found


def import_graph(root: Path = ROOT) -> nx.DiGraph:
    known = modules(root)

    def owner(name: str) -> str:
        """The module `name` lives in: itself, or the nearest package or module above it."""
        while name not in known:
            name = name.rpartition(".")[0]
        return name

    graph = nx.DiGraph()
    for name, (path, is_package) in known.items():
        graph.add_node(name)
        here = name.split(".") if is_package else name.split(".")[:-1]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = ".".join(here[:len(here) - node.level + 1] + [node.module or ""]).strip(".") \
                    if node.level else node.module or ""
                targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
            else:
                continue
            for target in targets:
                if target.split(".")[0] == PACKAGE and owner(target) != name:
                    graph.add_edge(name, owner(target))
    return graph


def circles(graph: nx.DiGraph) -> list[set[str]]:
    return [component for component in nx.strongly_connected_components(graph) if len(component) > 1]


def test_the_product_has_no_import_circles_but_those_being_fixed():
    found = circles(import_graph())
    unexpected = [sorted(c) for c in found if c not in ALLOWED_CIRCLES]
    assert unexpected == [], f"import circles: {unexpected}"
    gone = [sorted(c) for c in ALLOWED_CIRCLES if c not in found]
    assert gone == [], f"these circles are gone: take them off ALLOWED_CIRCLES: {gone}"


def test_only_the_dev_and_sandbox_commands_import_the_sandboxes():
    graph = import_graph()
    importers = {a for a, b in graph.edges if b.startswith(SANDBOX) and not a.startswith(SANDBOX)}
    assert importers == SANDBOX_IMPORTERS


@pytest.mark.parametrize("source, circle", [
    ("x = 1", None),
    ("from . import b", {"zensync_pipelines.a", "zensync_pipelines.b"}),  # a top-level import back
    ("def f():\n    from .b import g", {"zensync_pipelines.a", "zensync_pipelines.b"}),  # a lazy one
    ("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from zensync_pipelines.b import g",
     {"zensync_pipelines.a", "zensync_pipelines.b"}),
])
def test_the_graph_sees_every_kind_of_import(tmp_path, source, circle):
    """The check above is only as good as the graph: a circle made by any kind of import must show."""
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "a.py").write_text(source)
    (tmp_path / "b.py").write_text("from .a import x\n")
    assert circles(import_graph(tmp_path)) == ([circle] if circle else [])
