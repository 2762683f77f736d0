"""Checks of the row-object declarations: keys, same-row ids, create-only fields, replace, pointers, lookups.

Kept apart from spec.py's field checks; called by `validate_spec` for every external object, with the names of
the objects declared before it in the same system.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Optional, Protocol, Sequence

KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class RowObject(Protocol):
    """What these checks read of spec.ExternalObject, named here so that this module needs nothing of spec.py,
    which imports it (spec.py -> spec_objects.py, never back)."""

    name: str
    object_type: str
    key: Optional[str]
    fields: Sequence[Any]  # spec.Field: target, references, same_row, transform, inbound, create_only, outbound
    reads_inbound: bool
    replace_on_change: bool
    create_only_targets: list[str]
    pointed_by: Optional[tuple[str, str]]
    lookup: Optional[str]


def validate_row_objects(obj: RowObject, before: Sequence[str], prefix: str, fail: Callable[[str], None],
                         catalog: str = "") -> None:
    if obj.key is not None and (not isinstance(obj.key, str) or not KEY.match(obj.key)):
        fail(f"{prefix}.key must be a name like 'monthly_price', got {obj.key!r}")
    if obj.key is not None and obj.reads_inbound:
        fail(f"{prefix}: an object with key= cannot read changes inbound yet (its changes could not be told "
             f"apart from those of the row's other {obj.object_type} objects)")
    for f in obj.fields:
        where = f"{prefix}.{f.target}"
        if f.references is not None and f.references.catalog == catalog:
            fail(f"{where}: references= points at this catalog itself, which cannot be ordered (its asset would "
                 f"depend on itself); for another object of the same row, declare "
                 f"same_row={f.references.object_type!r}")
        if f.same_row is not None:
            if f.same_row not in before:
                fail(f"{where}: same_row={f.same_row!r} must name an object of this system declared before "
                     f"{obj.name!r} (declared before it: {list(before)})")
            if f.references is not None or f.transform is not None or f.inbound:
                fail(f"{where}: a same_row field takes the other object's id as it is: no references=, "
                     f"transform= or inbound direction")
        if f.create_only and not f.outbound:
            fail(f"{where}: create_only applies to fields sent to the system (direction 'out' or 'both')")
    if obj.replace_on_change and not obj.create_only_targets:
        fail(f"{prefix}.replace_on_change needs create_only fields: a change to one of them is what replaces it")
    if obj.pointed_by is not None:
        if not (isinstance(obj.pointed_by, tuple) and len(obj.pointed_by) == 2
                and all(isinstance(part, str) and part for part in obj.pointed_by)):
            fail(f"{prefix}.pointed_by must be (object name, field), got {obj.pointed_by!r}")
        if obj.pointed_by[0] not in before:
            fail(f"{prefix}.pointed_by names {obj.pointed_by[0]!r}, which must be an object of this system "
                 f"declared before {obj.name!r}")
    if obj.lookup is not None:
        outbound = [f.target for f in obj.fields if f.outbound]
        if obj.lookup not in outbound:
            fail(f"{prefix}.lookup={obj.lookup!r} must be one of the object's outbound targets {outbound}")
