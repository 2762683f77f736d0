"""`zensync dev`'s systems, read from the registry: start each one's sandbox, or use its configured settings, or
skip it with one line (and turn its sensors and schedules off) when it has neither."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

from ..dagster_defs.settings import SKIP_SYSTEMS
from ..systems import registry


@dataclass
class DevSystems:
    sandboxes: list[Any] = field(default_factory=list)  # started here, stopped by `stop`
    environment: dict[str, str] = field(default_factory=dict)  # for the dagster process
    lines: list[str] = field(default_factory=list)  # one per system, for the terminal
    skipped: list[str] = field(default_factory=list)

    def stop(self) -> None:
        for sandbox in reversed(self.sandboxes):
            sandbox.stop()


def start_systems(data: Path, ports: Mapping[str, int], environ: Optional[Mapping[str, str]] = None) -> DevSystems:
    environ = os.environ if environ is None else environ
    systems = DevSystems()
    try:
        for entry in registry.entries():
            if entry.sandbox is not None:
                sandbox, variables = registry.load(entry.sandbox)(data, ports.get(entry.name, 0))
                systems.sandboxes.append(sandbox)
                systems.environment |= variables
                systems.lines.append(f"{entry.name + ' sandbox:':<20}{sandbox.url}")
            elif entry.missing(environ):
                systems.skipped.append(entry.name)
                systems.lines.append(f"{entry.name}: skipped, {', '.join(entry.missing(environ))} not set "
                                     f"(no sandbox): its sensors and schedules are off")
            else:
                systems.lines.append(f"{entry.name}: using the settings in the environment")
    except BaseException:
        systems.stop()
        raise
    systems.environment[SKIP_SYSTEMS] = ",".join(systems.skipped)
    return systems
