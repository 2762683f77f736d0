"""The code blocks of a docs page, by the `<!-- walkthrough: NAME -->` marker written just above each one."""

import re
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs"
BLOCK = re.compile(r"<!-- walkthrough: (?P<name>[^>]+?) -->\s*```\w*\n(?P<code>.*?)```", re.S)


def blocks(page: str) -> dict[str, str]:
    found = {m["name"]: m["code"] for m in BLOCK.finditer((DOCS / page).read_text())}
    assert found, f"docs/{page} has no walkthrough blocks"
    return found
