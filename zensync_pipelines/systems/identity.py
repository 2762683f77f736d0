"""Identity per catalog: the field that ties an external object to its catalog row, and the load-time refusal of
two catalogs writing one object type of a system through the same field.

Two such catalogs would land on the same records: Salesforce upserts on the external-id field, so contact 1 and
customer 1 would be one Contact, each catalog overwriting the other and both mappings pointing at it; in Stripe the
recovery of an unrecorded create would adopt the other catalog's object. Nothing fails at run time, so it is
refused when the specs load, naming both spec files and the fix.
"""

from __future__ import annotations

from typing import Any, Optional, Sequence

from ..engine.inbound.types import Neighbour
from ..engine.spec import SpecError, creates_rows, inbound_readers, inbound_routes
from .registry import REGISTRY


def identity_of(system: str, obj: Any) -> Optional[str]:
    """The field `obj` carries its row id in: the spec's `external_id_field`, else the system's own default."""
    entry = REGISTRY.get(system)
    default = entry.object_capabilities(obj.object_type).identity if entry is not None else None
    return obj.external_id_field or default


def tag_fields(spec: Any, system: str) -> dict[str, str]:
    """Object type -> the field the catalog's objects carry its row id in, for those it reads inbound: where the
    inbound path looks for (and writes, when it adopts a record) this catalog's tag, never another catalog's."""
    found = {obj.object_type: identity_of(system, obj) for obj in spec.inbound_objects(system)}
    return {object_type: field for object_type, field in found.items() if field}


def neighbours(specs: Sequence[Any], spec: Any, system: str) -> dict[str, list[Neighbour]]:
    """Object type -> the other catalogs writing it in `system`, for each type this catalog reads back, with the
    field each one's tag is in: an event of an object they link is handed to them when they read it back too,
    and ignored otherwise; it is never imported here (engine/inbound/rows.py)."""
    readers = inbound_readers(specs, system)
    found: dict[str, list[Neighbour]] = {}
    for obj in spec.inbound_objects(system):
        reading = {reader.name for reader in readers.get(obj.object_type, [])}
        others = [(other, mine) for other in specs if other.name != spec.name
                  for mine in other.systems.get(system, ()) if mine.object_type == obj.object_type]
        found[obj.object_type] = [Neighbour(other.name, identity_of(system, mine),
                                            creates_rows(other, system, obj.object_type), other.name in reading)
                                  for other, mine in others]
    return {object_type: others for object_type, others in found.items() if others}


def check_identities(specs: Sequence[Any]) -> None:
    """Refuse a field a system cannot use, two catalogs declaring one (system, object type, field), and two
    catalogs importing one object type made by hand."""
    for system in dict.fromkeys(system for spec in specs for system in spec.systems):
        inbound_routes(specs, system)
    owners: dict[tuple[str, str, str], Any] = {}
    for spec in specs:
        for system, objects in spec.systems.items():
            entry = REGISTRY.get(system)
            for obj in objects:
                can = entry.object_capabilities(obj.object_type) if entry is not None else None
                if can is not None and not can.custom_identity and obj.external_id_field not in (None, can.identity):
                    raise SpecError(f"catalog spec {spec.name!r} ({spec.source}): systems[{system!r}][{obj.name!r}]"
                                    f".external_id_field={obj.external_id_field!r}: {system} ties every "
                                    f"{obj.object_type} to its row by {can.identity} only; remove it")
                _check_declared(spec, system, obj, can)
                field = identity_of(system, obj)
                if field is None:
                    continue
                other = owners.setdefault((system, obj.object_type, field), spec)
                if other.name != spec.name:
                    raise SpecError(_collision(other, spec, system, obj.object_type, field, can))


def _check_declared(spec: Any, system: str, obj: Any, can: Any) -> None:
    """A declared field the system can carry: under the default's parent (Stripe: a `metadata.` key), and only on
    an object not read back when the system's inbound path reads the default alone."""
    declared = obj.external_id_field
    if can is None or declared in (None, can.identity) or not can.custom_identity or not can.identity:
        return
    where = f"catalog spec {spec.name!r} ({spec.source}): systems[{system!r}][{obj.name!r}].external_id_field"
    parent = can.identity.rpartition(".")[0]
    if parent and not (declared.startswith(parent + ".") and len(declared) > len(parent) + 1):
        raise SpecError(f"{where}={declared!r}: {system} carries a catalog's tag in {parent}: name a key of it, "
                        f"e.g. '{parent}.zenskar_{spec.name}_id'")
    if obj.reads_inbound and not can.custom_identity_inbound:
        raise SpecError(f"{where}={declared!r}: {system}'s inbound path finds rows by {can.identity} only, and "
                        f"this {obj.object_type} reads fields back (direction 'in' or 'both'): keep {can.identity} "
                        f"or make its fields outbound only")


def _collision(first: Any, second: Any, system: str, object_type: str, field: str, can: Any) -> str:
    clash = (f"catalog specs {first.name!r} ({first.source}) and {second.name!r} ({second.source}) both write "
             f"{system} {object_type} objects identified by {field}: their rows with the same id would land on "
             f"the same {object_type}, each catalog overwriting the other's")
    if can is not None and not can.custom_identity:
        return f"{clash}; {system} identifies every {object_type} by {field} only: sync one of them to another " \
               f"object type"
    parent, _, leaf = field.rpartition(".")
    if field.endswith("_Id__c"):
        example = f"{field[:-len('_Id__c')]}_{object_type}_Id__c"
    elif parent:  # a key beside the default one (Stripe's metadata)
        example = f"{parent}.zenskar_{second.name}_id"
    else:
        example = f"{second.name}_{leaf}"
    what = f"a metadata key of {object_type}" if parent else f"an External ID field on {object_type} in {system}"
    return f"{clash}; give one of them its own external-id field, e.g. external_id_field={example!r} ({what})"
