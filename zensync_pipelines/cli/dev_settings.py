"""What `zensync dev` tells the commands of a second shell: its sandboxes' settings, recorded in the data folder
while it runs, so `zensync sync`, `plan`, `retry`, `status` ... run there need no export.

The file holds what dev gives its own Dagster process for the systems it started sandboxes for (the sandboxes'
local addresses, their CA file and their fixed test credentials, which the sandbox state in the same folder
already holds) and the catalog database's URL when it carries no password. It is written with mode 0600, names
dev's process, and is removed when dev stops; one left by a dev that died is ignored. A variable set in the
second shell wins, and an empty one counts as unset (an empty key is no key).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Mapping, MutableMapping, Optional

from .. import config

FILE = "dev-settings.json"


def path(data: Path) -> Path:
    return data / FILE


def record(data: Path, environment: Mapping[str, str], database_url: Optional[str] = None,
           pid: Optional[int] = None) -> Path:
    """Write dev's settings for other shells (0600 from its creation: never readable by others, even briefly)."""
    # Here, not at the top: every command reads this module, and neither Dagster nor SQLAlchemy may slow its start.
    from ..dagster_defs.settings import SKIP_SYSTEMS
    from ..store.db import redact

    shared = {name: value for name, value in environment.items() if value and name != SKIP_SYSTEMS}
    if database_url and redact(database_url) == database_url:  # a URL with a password stays in dev's shell
        shared[config.DATABASE_URL] = database_url
    target = path(data)
    target.unlink(missing_ok=True)
    descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as out:
        json.dump({"pid": pid or os.getpid(), "environment": shared}, out, indent=1, sort_keys=True)
    return target


def forget(data: Path) -> None:
    path(data).unlink(missing_ok=True)


def _alive(pid: object) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def adopt(environ: Optional[MutableMapping[str, str]] = None, data: Optional[Path] = None) -> list[str]:
    """Take a running dev's settings into `environ` where it has none (unset or empty); returns the names taken."""
    environ = os.environ if environ is None else environ
    source = path(data or config.data_dir())
    try:
        recorded = json.loads(source.read_text())
    except (OSError, ValueError):
        return []
    if not isinstance(recorded, dict) or not _alive(recorded.get("pid")):
        return []
    taken = []
    for name, value in (recorded.get("environment") or {}).items():
        if isinstance(value, str) and not environ.get(name):
            environ[name] = value
            taken.append(name)
    return taken
