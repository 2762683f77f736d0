"""How records look on the wire: Salesforce's `attributes` block plus the public fields, internals stripped."""

from __future__ import annotations

from typing import Any, Iterable, Optional

from .schema import SObject
from .store import Record


def attributes(sobject: SObject, record_id: str, version: str) -> dict[str, str]:
    return {"type": sobject.name, "url": f"/services/data/{version}/sobjects/{sobject.name}/{record_id}"}


def render(sobject: SObject, record: Record, version: str, fields: Optional[Iterable[str]] = None) -> dict[str, Any]:
    view: dict[str, Any] = {"attributes": attributes(sobject, record["Id"], version)}
    for name in fields if fields is not None else sobject.fields:
        f = sobject.field(name)
        if f is not None:
            view[f.name] = record.get(f.name)
    return view
