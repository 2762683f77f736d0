"""Declarative catalog specs: what a catalog is and how each external system sees it.

A spec is data. The factory turns it into Dagster definitions and the engine into sync plans; nothing else in
the code base knows a catalog's name, table or columns.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Optional, Sequence

FIELD_TYPES = ("string", "integer", "decimal", "boolean", "date", "datetime", "email", "object")
NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class SpecError(ValueError):
    """A spec that cannot work; the message names the catalog (and file, when loaded from one) and field."""


class InvalidValue(ValueError):
    """Raised by a transform to reject a row's value: the row is marked invalid with this reason and `code`."""

    def __init__(self, reason: str, code: str = "invalid_value"):
        super().__init__(reason)
        self.reason, self.code = reason, code


@dataclass(frozen=True)
class Field:
    """One external field, fed from one catalog column (optionally transformed)."""

    column: str
    target: str  # dotted for nested payloads: "address.line1"
    type: str = "string"
    required: bool = False
    max_length: Optional[int] = None
    choices: Optional[Sequence[Any]] = None
    transform: Optional[Callable[[Any], Any]] = None
    # The value is another catalog's internal id; the payload gets that row's external id in this system.
    references: Optional["Reference"] = None
    # More columns the transform needs: it is called as transform(value, *those columns' values).
    extra_columns: Sequence[str] = ()


@dataclass(frozen=True)
class Reference:
    """Points at a row of another catalog; a row waits until that row has an external id in the same system."""

    catalog: str
    object_type: str
    # What the waiting reason calls the referenced row ("customer not synced ..."); defaults to the object type.
    label: Optional[str] = None

    @property
    def noun(self) -> str:
        return self.label or self.object_type


@dataclass(frozen=True)
class Children:
    """Rows of another table that belong to each catalog row, e.g. an invoice's lines.

    The reader attaches them to their parent as a list under `name` (dicts of `columns`, ordered by
    `primary_key`), so a field can map the list and the fingerprint covers it: a changed child is a changed
    parent. A child whose `cursor_column` moved counts as a change of its parent in incremental runs. A child
    deleted outright leaves no cursor behind: the application must touch the parent's cursor when it does so.
    """

    name: str
    table: str
    foreign_key: str
    cursor_column: str
    columns: Sequence[str]
    primary_key: str = "id"

    @property
    def read_columns(self) -> list[str]:
        return list(dict.fromkeys([self.primary_key, self.foreign_key, *self.columns]))


@dataclass(frozen=True)
class ExternalObject:
    """An external object type fed by each catalog row, e.g. a Stripe customer or a Salesforce Account."""

    object_type: str
    fields: Sequence[Field]
    # For systems that upsert on an external-id field (Salesforce), the field that carries the internal id.
    external_id_field: Optional[str] = None
    # Object type of the same row that must be written first (a Contact after its Account).
    after: Optional[str] = None


@dataclass(frozen=True)
class CatalogSpec:
    name: str
    table: str
    primary_key: str
    cursor_column: str
    created_at_column: str
    systems: dict[str, Sequence[ExternalObject]]
    soft_delete_column: Optional[str] = None
    description: str = ""
    # First day of the monthly backfill partitions on created_at_column (ISO date); older rows are still synced
    # by whole-catalog runs (sensor, reconcile), they only have no partition of their own.
    partition_start: str = "2020-01-01"
    children: Sequence[Children] = ()
    source: str = field(default="<inline>", compare=False)  # file the spec was loaded from, for error messages

    def __post_init__(self) -> None:
        validate_spec(self)

    def objects(self, system: str) -> Sequence[ExternalObject]:
        return self.systems[system]

    @property
    def columns(self) -> list[str]:
        """Every catalog column the engine reads: keys, bookkeeping columns and each mapped column."""
        wanted = [self.primary_key, self.cursor_column, self.created_at_column, self.soft_delete_column]
        for objects in self.systems.values():
            wanted += [c for obj in objects for f in obj.fields for c in (f.column, *f.extra_columns)]
        attached = {child.name for child in self.children}
        return list(dict.fromkeys(c for c in wanted if c and c not in attached))

    def references(self, system: str) -> list[Reference]:
        """Every other catalog this one points at in `system`: its external copy must be synced first."""
        found = [f.references for obj in self.objects(system) for f in obj.fields if f.references is not None]
        return list(dict.fromkeys(found))


def validate_spec(spec: CatalogSpec) -> None:
    where = f"catalog spec {spec.name!r} ({spec.source})"

    def fail(message: str) -> None:
        raise SpecError(f"{where}: {message}")

    if not isinstance(spec.name, str) or not NAME.match(spec.name):
        fail(f"name must be lower_snake_case, got {spec.name!r}")
    for attr in ("table", "primary_key", "cursor_column", "created_at_column"):
        if not isinstance(getattr(spec, attr), str) or not getattr(spec, attr):
            fail(f"field {attr!r} is required and must be a column or table name")
    try:
        dt.date.fromisoformat(spec.partition_start)
    except (TypeError, ValueError):
        fail(f"field 'partition_start' must be an ISO date like '2024-01-01', got {spec.partition_start!r}")
    if not spec.systems:
        fail("field 'systems' must name at least one external system")
    names = [child.name for child in spec.children]
    if len(set(names)) != len(names):
        fail(f"children declares a name twice: {names}")
    for child in spec.children:
        for attr in ("name", "table", "foreign_key", "cursor_column", "primary_key"):
            if not isinstance(getattr(child, attr), str) or not getattr(child, attr):
                fail(f"children[{child.name!r}].{attr} is required and must be a column or table name")
        if not child.columns:
            fail(f"children[{child.name!r}].columns must name the child columns to read")
    for system, objects in spec.systems.items():
        if not objects:
            fail(f"systems[{system!r}] declares no external object")
        types = [obj.object_type for obj in objects]
        if len(set(types)) != len(types):
            fail(f"systems[{system!r}] declares an object type twice: {types}")
        for position, obj in enumerate(objects):
            prefix = f"systems[{system!r}][{obj.object_type!r}]"
            if obj.after is not None and obj.after not in types[:position]:
                fail(f"{prefix}.after={obj.after!r} must name an object declared before it")
            if not obj.fields:
                fail(f"{prefix} maps no field")
            targets = [f.target for f in obj.fields]
            if len(set(targets)) != len(targets):
                fail(f"{prefix} maps a target field twice: {targets}")
            for f in obj.fields:
                if f.type not in FIELD_TYPES:
                    fail(f"{prefix}.{f.target}: type {f.type!r} is not one of {FIELD_TYPES}")
                if f.max_length is not None and (not isinstance(f.max_length, int) or f.max_length <= 0):
                    fail(f"{prefix}.{f.target}: max_length must be a positive integer")
                if f.transform is not None and not callable(f.transform):
                    fail(f"{prefix}.{f.target}: transform must be callable")
