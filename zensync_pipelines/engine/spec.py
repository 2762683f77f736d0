"""Declarative catalog specs: what a catalog is and how each external system sees it.

A spec is data. The factory turns it into Dagster definitions and the engine into sync plans; nothing else in
the code base knows a catalog's name, table or columns.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable, Mapping, Optional, Sequence

from .spec_objects import validate_row_objects
from .strategy import INBOUND_ONLY, Strategy, strategy_problems

FIELD_TYPES = ("string", "integer", "decimal", "boolean", "date", "datetime", "email", "object")
DEFAULT_STRATEGY = Strategy()
NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# Which way a field's value travels: catalog -> system (today's behaviour), system -> catalog, or both.
OUT, IN, BOTH = "out", "in", "both"
DIRECTIONS = (OUT, IN, BOTH)
# Who wins when both sides changed a `both` field: see docs/inbound.md.
CATALOG_WINS, SYSTEM_WINS, NEWEST_WINS = "catalog_wins", "system_wins", "newest_wins"
CONFLICT_RULES = (CATALOG_WINS, SYSTEM_WINS, NEWEST_WINS)
# What an object deleted on the system's side does to its catalog row.
RECREATE, UNLINK, SOFT_DELETE = "recreate", "unlink", "soft_delete"
DELETE_POLICIES = (RECREATE, UNLINK, SOFT_DELETE)


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
    # Inbound (direction "in"), the other way: the object's value is that catalog's external id in this system,
    # and the column gets the internal id its mapping names (an id no mapping knows fails the event, retried).
    references: Optional["Reference"] = None
    # More columns the transform needs: it is called as transform(value, *those columns' values).
    extra_columns: Sequence[str] = ()
    # out: catalog -> system only; in: system -> catalog only (never sent); both: each way, `conflict` decides.
    direction: str = OUT
    conflict: Optional[str] = None  # catalog_wins | system_wins | newest_wins, for direction "both" only
    # The reverse mapping of an inbound value: external value -> catalog value (an unknown one fails the event),
    # or a callable external value -> catalog value (raise InvalidValue to reject it).
    inbound_values: Optional[Mapping[Any, Any]] = None
    inbound_transform: Optional[Callable[[Any], Any]] = None
    # The value is the external id of another object of the same row (named as in this system's list, declared
    # before this one), e.g. a price's `product`; the engine fills it in, within the batch when both are new.
    same_row: Optional[str] = None
    # Sent when the object is created, never in an update (e.g. a Stripe price's amount and product).
    create_only: bool = False

    @property
    def outbound(self) -> bool:
        return self.direction != IN

    @property
    def inbound(self) -> bool:
        return self.direction != OUT


@dataclass(frozen=True)
class Reference:
    """Points at a row of another catalog; a row waits until that row has an external id in the same system."""

    catalog: str
    object_type: str
    # What the waiting reason calls the referenced row ("customer not synced ..."); defaults to the object type.
    label: Optional[str] = None
    # When the referenced row has several objects of the type (a plan's monthly and yearly price), a column of
    # this row chooses one: `select_by` names the column, `select` maps its values to the objects' names, e.g.
    # select_by="interval", select={"month": "monthly_price", "year": "yearly_price"}. A value not in `select`
    # makes the row invalid. Without them the object is `object_type`.
    select_by: Optional[str] = None
    select: Optional[Mapping[Any, str]] = field(default=None, hash=False)  # a dict: left out of the hash

    @property
    def noun(self) -> str:
        return self.label or self.object_type

    def object_for(self, row: Mapping[str, Any]) -> Optional[str]:
        """The name of the referenced row's object `row` points at; None: its select_by value is not in select."""
        if self.select_by is None:
            return self.object_type
        return (self.select or {}).get(row.get(self.select_by))

    @property
    def object_names(self) -> list[str]:
        return list(dict.fromkeys((self.select or {}).values())) if self.select_by else [self.object_type]


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
class Inbound:
    """How a catalog takes an object type's changes made on the system's side, beyond its inbound fields.

    `on_delete`: an object deleted there is re-created by the next outbound run (`recreate`: the row is unlinked
    and its cursor touched), only unlinked and left alone (`unlink`), or soft-deletes the catalog row
    (`soft_delete`, needs the spec's soft_delete_column). `create_rows`: an object zensync did not create (no
    link, no zensync tag) becomes a new catalog row; otherwise it is ignored as untracked.
    """

    on_delete: str = UNLINK
    create_rows: bool = False


@dataclass(frozen=True)
class ExternalObject:
    """An external object type fed by each catalog row, e.g. a Stripe customer or a Salesforce Account."""

    object_type: str
    fields: Sequence[Field]
    # The field that carries the internal id: Salesforce upserts on it; Stripe's default is metadata.zenskar_id.
    # Two catalogs writing one object type each need their own (refused at load: systems/identity.py).
    external_id_field: Optional[str] = None
    # Object type of the same row that must be written first (a Contact after its Account).
    after: Optional[str] = None
    # Inbound policy; an object with inbound fields and no policy gets Inbound()'s defaults.
    inbound: Optional[Inbound] = None
    # The object's name when a row has several objects of one type (a monthly and a yearly price): its identity
    # in the mappings, in `after`/`same_row`, and in the tag on the external object. Defaults to object_type.
    key: Optional[str] = None
    # A change to a create-only field creates a new object, moves `pointed_by` to it and retires the old one.
    replace_on_change: bool = False
    # (object name of the same row, its field) that points at this object: a product's default_price.
    pointed_by: Optional[tuple[str, str]] = None
    # On create only: link to an existing object whose field `lookup` (a target of this object) has the row's
    # value, instead of creating one (a Stripe product found by name).
    lookup: Optional[str] = None

    @property
    def name(self) -> str:
        return self.key or self.object_type

    # Derived once per object (cached_property writes past the frozen dataclass): the planner asks for each of
    # these for every row, and specs never change after they are built.
    @cached_property
    def create_only_targets(self) -> list[str]:
        return [f.target for f in self.fields if f.create_only and f.outbound]

    @cached_property
    def parents(self) -> list[str]:
        """Objects of the same row that must be written before this one."""
        found = [self.after] + [f.same_row for f in self.fields if f.same_row] + \
            [self.pointed_by[0] if self.pointed_by else None]
        return list(dict.fromkeys(p for p in found if p))

    @cached_property
    def outbound_fields(self) -> list[Field]:
        return [f for f in self.fields if f.outbound]

    @cached_property
    def inbound_fields(self) -> list[Field]:
        return [f for f in self.fields if f.inbound]

    @cached_property
    def owned_fields(self) -> list[Field]:
        """Inbound fields whose value the system decides: inbound-only, and two-way ones the system wins. The
        answer to zensync's own write carries them (engine/write_back.py); a reference is left to the inbound
        side, which resolves it through the other catalog's mapping."""
        return [f for f in self.inbound_fields if f.references is None
                and (f.direction == IN or f.conflict == SYSTEM_WINS)]

    @property
    def reads_inbound(self) -> bool:
        return self.inbound is not None or bool(self.inbound_fields)

    @property
    def inbound_policy(self) -> Inbound:
        return self.inbound or Inbound()


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
    # How each system's copy is kept (engine/strategy.py); a system not named here mirrors on change.
    strategies: Mapping[str, Strategy] = field(default_factory=dict)
    # The column that says which tenant owns a row (e.g. "tenant_id"), in the table and in each child table: a
    # store bound to a tenant reads, watches and writes only its rows, and a row is (tenant, primary key). None:
    # one tenant owns every row, as before tenants existed.
    tenant_column: Optional[str] = None
    # Set by the code location, not by a spec: True when the copies are partitioned by tenant instead of by month
    # (tenants are registered and the spec has a tenant column; dagster_defs/tenant_partitions.py).
    tenant_partitions: bool = False
    source: str = field(default="<inline>", compare=False)  # file the spec was loaded from, for error messages

    def __post_init__(self) -> None:
        validate_spec(self)

    def objects(self, system: str) -> Sequence[ExternalObject]:
        return self.systems[system]

    def strategy(self, system: str) -> Strategy:
        return self.strategies.get(system) or DEFAULT_STRATEGY

    @property
    def columns(self) -> list[str]:
        """Every catalog column the engine reads: keys, bookkeeping columns and each mapped column."""
        wanted = [self.primary_key, self.cursor_column, self.created_at_column, self.soft_delete_column]
        for objects in self.systems.values():
            wanted += [c for obj in objects for f in obj.fields for c in (f.column, *f.extra_columns)]
            wanted += [f.references.select_by for obj in objects for f in obj.fields
                       if f.references is not None and f.references.select_by]
        attached = {child.name for child in self.children}
        return list(dict.fromkeys(c for c in wanted if c and c not in attached))

    def references(self, system: str) -> list[Reference]:
        """Every other catalog this one points at in `system` when writing it: that copy must be synced first.
        (Inbound references are resolved when an event is applied: an unknown one fails it and it retries.)"""
        found = [f.references for obj in self.objects(system) for f in obj.outbound_fields
                 if f.references is not None]
        return list(dict.fromkeys(found))

    def inbound_objects(self, system: str) -> list[ExternalObject]:
        """The object types of `system` whose changes this catalog reads back (inbound fields or a policy)."""
        return [obj for obj in self.systems.get(system, ()) if obj.reads_inbound]


def inbound_readers(specs: Sequence[CatalogSpec], system: str) -> dict[str, list[CatalogSpec]]:
    """Object type -> the catalogs that read it back from `system`, in load order. Several may share one type
    (a customer's Contact and a contacts catalog's): each event is routed by its link (engine/inbound/rows.py)."""
    readers: dict[str, list[CatalogSpec]] = {}
    for spec in specs:
        for obj in spec.inbound_objects(system):
            readers.setdefault(obj.object_type, []).append(spec)
    return readers


def creates_rows(spec: CatalogSpec, system: str, object_type: str) -> bool:
    return any(obj.object_type == object_type and obj.inbound_policy.create_rows
               for obj in spec.inbound_objects(system))


def inbound_routes(specs: Sequence[CatalogSpec], system: str) -> dict[str, str]:
    """Object type -> the catalog whose inbox first takes its events, for every object type of `system` some
    catalog reads inbound: what the webhook receiver stores and polling asks for. Where several catalogs read
    one type, the one that imports unlinked objects (`create_rows`) comes first, else the first loaded; its run
    hands an event to the catalog whose mapping or tag field links the object (engine/inbound/rows.py). Two
    catalogs importing one type could not tell whose a new object is: refused."""
    routes: dict[str, str] = {}
    for object_type, readers in inbound_readers(specs, system).items():
        importers = [spec for spec in readers if creates_rows(spec, system, object_type)]
        if len(importers) > 1:
            first, second = importers[:2]
            raise SpecError(f"catalog specs {first.name!r} ({first.source}) and {second.name!r} ({second.source}) "
                            f"both import {system} {object_type} objects made by hand (inbound create_rows=True): "
                            f"a new {object_type} could belong to either; keep create_rows on one of them")
        routes[object_type] = (importers or readers)[0].name
    return routes


def inbound_systems(specs: Sequence[CatalogSpec]) -> list[str]:
    return list(dict.fromkeys(system for spec in specs for system in spec.systems if spec.inbound_objects(system)))


def validate_spec(spec: CatalogSpec) -> None:
    where = f"catalog spec {spec.name!r} ({spec.source})"

    def fail(message: str) -> None:
        raise SpecError(f"{where}: {message}")

    if not isinstance(spec.name, str) or not NAME.match(spec.name):
        fail(f"name must be lower_snake_case, got {spec.name!r}")
    for attr in ("table", "primary_key", "cursor_column", "created_at_column"):
        if not isinstance(getattr(spec, attr), str) or not getattr(spec, attr):
            fail(f"field {attr!r} is required and must be a column or table name")
    if spec.tenant_column is not None and (not isinstance(spec.tenant_column, str) or not spec.tenant_column):
        fail(f"field 'tenant_column' must be a column name or None, got {spec.tenant_column!r}")
    if spec.tenant_column in (spec.primary_key, spec.cursor_column, spec.created_at_column):
        fail(f"field 'tenant_column' ({spec.tenant_column!r}) must be a column of its own, not the primary key, "
             f"cursor or created-at column")
    try:
        dt.date.fromisoformat(spec.partition_start)
    except (TypeError, ValueError):
        fail(f"field 'partition_start' must be an ISO date like '2024-01-01', got {spec.partition_start!r}")
    if spec.tenant_partitions and not spec.tenant_column:
        fail("field 'tenant_partitions' needs a 'tenant_column': the partitions are the tenants of its rows")
    if not spec.systems:
        fail("field 'systems' must name at least one external system")
    for problem in strategy_problems(spec.strategies, spec.systems):
        fail(problem)
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
        types = [obj.name for obj in objects]
        if len(set(types)) != len(types):
            fail(f"systems[{system!r}] declares an object type twice (give each a distinct key=): {types}")
        for position, obj in enumerate(objects):
            prefix = f"systems[{system!r}][{obj.name!r}]"
            validate_row_objects(obj, types[:position], prefix, fail, spec.name)
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
                if f.references is not None:
                    _validate_reference(f.references, f"{prefix}.{f.target}", fail)
                _validate_direction(spec, f, f"{prefix}.{f.target}", fail)
            if spec.strategy(system).mode == INBOUND_ONLY:
                _validate_inbound_only(obj, prefix, fail)
            elif not [f for f in obj.fields if f.outbound]:
                fail(f"{prefix} maps no outbound field: zensync could never create the object")
            _validate_inbound_policy(spec, obj, prefix, fail)


def _validate_direction(spec: CatalogSpec, f: Field, where: str, fail: Callable[[str], None]) -> None:
    if f.direction not in DIRECTIONS:
        fail(f"{where}: direction {f.direction!r} is not one of {DIRECTIONS}")
    if f.direction == BOTH and f.conflict not in CONFLICT_RULES:
        fail(f"{where}: direction 'both' needs conflict= one of {CONFLICT_RULES}, got {f.conflict!r}")
    if f.direction != BOTH and f.conflict is not None:
        fail(f"{where}: conflict applies to direction 'both' only (this field is {f.direction!r})")
    if not f.inbound:
        if f.inbound_values is not None or f.inbound_transform is not None:
            fail(f"{where}: inbound_values/inbound_transform need direction 'in' or 'both'")
        return
    if f.references is not None and (f.direction == BOTH or f.transform is not None
                                     or f.inbound_values is not None or f.inbound_transform is not None):
        fail(f"{where}: a field that references another catalog is inbound with direction 'in' only, and takes "
             f"the external id as it is (no transform, inbound_values or inbound_transform)")
    if f.extra_columns or f.type == "object":
        fail(f"{where}: a field that reads extra columns or builds an object cannot be inbound: its catalog value "
             f"cannot be recovered from the external one")
    if f.column in (spec.primary_key, spec.cursor_column, spec.created_at_column, spec.soft_delete_column):
        fail(f"{where}: column {f.column!r} is zensync's bookkeeping and cannot be written inbound")
    if f.inbound_values is not None and f.inbound_transform is not None:
        fail(f"{where}: give inbound_values or inbound_transform, not both")
    if f.inbound_transform is not None and not callable(f.inbound_transform):
        fail(f"{where}: inbound_transform must be callable")
    if f.transform is not None and f.inbound_values is None and f.inbound_transform is None:
        fail(f"{where}: the outbound transform cannot be reversed; give inbound_values or inbound_transform")
    if f.inbound_values is not None:
        if not isinstance(f.inbound_values, Mapping) or not f.inbound_values:
            fail(f"{where}: inbound_values must be a non-empty mapping of external value -> catalog value")
        if f.choices is not None:
            strays = [v for v in f.inbound_values.values() if v is not None and v not in f.choices]
            if strays:
                fail(f"{where}: inbound_values maps to {strays}, not among the field's choices {list(f.choices)}")


def _validate_inbound_only(obj: ExternalObject, prefix: str, fail: Callable[[str], None]) -> None:
    """A copy zensync never writes: every field comes in, and the object says what its changes do."""
    sent = [f.target for f in obj.fields if f.outbound]
    if sent:
        fail(f"{prefix}: the strategy is 'inbound_only', so {sent} would never be sent; declare them "
             f"direction='in'")
    if obj.inbound is None:
        fail(f"{prefix}: an 'inbound_only' copy needs inbound=Inbound(...) (create_rows=True for a catalog born "
             f"in the system)")


def _validate_inbound_policy(spec: CatalogSpec, obj: ExternalObject, prefix: str,
                             fail: Callable[[str], None]) -> None:
    if obj.inbound is None:
        return
    if not isinstance(obj.inbound, Inbound):
        fail(f"{prefix}.inbound must be an Inbound(...), got {type(obj.inbound).__name__}")
    if obj.inbound.on_delete not in DELETE_POLICIES:
        fail(f"{prefix}.inbound.on_delete {obj.inbound.on_delete!r} is not one of {DELETE_POLICIES}")
    if obj.inbound.on_delete == SOFT_DELETE and not spec.soft_delete_column:
        fail(f"{prefix}.inbound.on_delete='soft_delete' needs the spec's soft_delete_column")
    if obj.inbound.create_rows and not obj.inbound_fields:
        fail(f"{prefix}.inbound.create_rows needs inbound fields to fill the new row from")


def _validate_reference(ref: Reference, where: str, fail: Callable[[str], None]) -> None:
    if (ref.select_by is None) != (ref.select is None):
        fail(f"{where}: references= needs both select_by (a column) and select (its values -> object names), "
             f"or neither")
    if ref.select_by is None:
        return
    if not isinstance(ref.select_by, str) or not ref.select_by:
        fail(f"{where}: references select_by must be a column name, got {ref.select_by!r}")
    if not isinstance(ref.select, Mapping) or not ref.select or \
            not all(isinstance(name, str) and name for name in ref.select.values()):
        fail(f"{where}: references select must map each {ref.select_by} value to an object name of catalog "
             f"{ref.catalog!r}, got {ref.select!r}")
