"""What the change sensor and the tenants' tick share: the sensor's name, the runs counted as in flight and the
cursor of one copy's change window (dagster_defs/sensors.py, tenant_sensors.py), apart so neither imports the
other's module back."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any, Sequence

from dagster import DagsterRunStatus

from ..engine.spec import CatalogSpec
from ..store.changes import Position, decode, encode


IN_FLIGHT = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
             DagsterRunStatus.STARTED, DagsterRunStatus.CANCELING]


def sensor_name(spec: CatalogSpec) -> str:
    return f"{spec.name}_changes"


def window_digest(positions: Sequence[Position]) -> str:
    material = "\n".join(f"{encode(value)} {encode(key)}" for value, key in positions)
    return hashlib.sha256(material.encode()).hexdigest()[:32]


@dataclass(frozen=True)
class ChangeCursor:
    value: Any
    key: Any
    floor: Any  # fixed until the next change, so an idle window never slides and its digest stays put
    window: str

    def dumps(self) -> str:
        return json.dumps({"value": encode(self.value), "key": encode(self.key), "floor": encode(self.floor),
                           "window": self.window})

    @classmethod
    def loads(cls, text: str) -> "ChangeCursor":
        data = json.loads(text)
        return cls(decode(data["value"]), decode(data["key"]), decode(data["floor"]), data["window"])
