"""The code blocks of a docs page, by the `<!-- walkthrough: NAME -->` marker written just above each one."""

import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCK = re.compile(r"<!-- walkthrough: (?P<name>[^>]+?) -->\s*```\w*\n(?P<code>.*?)```", re.S)


def blocks(page: str) -> dict[str, str]:
    found = {m["name"]: m["code"] for m in BLOCK.finditer((DOCS / page).read_text())}
    assert found, f"docs/{page} has no walkthrough blocks"
    return found


def spec_from_the_docs(tmp_path: Path, page: str = "adding-a-catalog.md",
                       block: str = "zensync_pipelines/catalogs/products.py"):
    """The page's spec file, loaded by the real loader (`load_specs`) from a package of its own under `tmp_path`."""
    from zensync_pipelines.catalogs import load_specs

    package = tmp_path / "spec" / "walkthrough_catalogs"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / Path(block).name).write_text(blocks(page)[block])
    sys.path.insert(0, str(package.parent))
    try:
        [spec] = load_specs("walkthrough_catalogs")
    finally:
        sys.path.remove(str(package.parent))
        for name in [m for m in sys.modules if m.startswith("walkthrough_catalogs")]:
            del sys.modules[name]
    return spec
