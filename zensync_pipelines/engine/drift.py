"""Read-back: compare the objects zensync owns in a system with what the mapping says was written, and repair.

Only rows in sync are judged (their payload's fingerprint is the mapping's): a row with unsent changes is about
to be written anyway. For those, the object's fields are compared with the row's, field by field where a value
can be compared on both sides (plain fields, or ones with a reverse mapping; not references, objects or one-way
transforms):
- an outbound-only field differs (the object was edited there, or a write got lost): the mapping forgets its
  fingerprint, so the next outbound run writes the row again;
- an inbound field differs (an edit whose webhook never came): a read-back event with the object's state goes to
  the inbox, and the inbound run applies it by the spec's rules, like any other event;
- a mapped object is gone (confirmed with the system): a read-back delete event, handled by the delete policy;
- an object carries a row's tag but is not the mapped one (a duplicate left by a lost reply): reported.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Optional, Protocol, Sequence

from .inbound.values import comparable, external_value, inbound_value
from .mapper import mapper_for
from .merge import base_of, dump, merges
from .payload import fingerprint
from .spec import CatalogSpec, ExternalObject, Field, InvalidValue
from .sync import MappingRepository, Selection, _resolve_references
from .types import SYNCED

CHUNK = 500


@dataclass
class DriftReport:
    checked: int = 0
    in_sync: int = 0
    changed: int = 0  # outbound fields differ: queued for rewrite
    inbound: int = 0  # inbound fields differ: read-back events stored
    missing: int = 0  # deleted on the other side: read-back delete events stored
    duplicates: int = 0
    unsent: int = 0  # rows with changes not sent yet: not judged
    api_calls: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)

    def note(self, kind: str, internal_id: str, external_id: str, fields: Sequence[str] = ()) -> None:
        if len(self.examples) < 50:
            self.examples.append({"kind": kind, "row": internal_id, "object": external_id, "fields": list(fields)})

    @property
    def drift(self) -> int:
        return self.changed + self.inbound + self.missing + self.duplicates

    def counts(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in ("checked", "in_sync", "changed", "inbound", "missing",
                                                         "duplicates", "unsent", "api_calls")}


class Listing(Protocol):
    """The system's objects zensync owns: (internal id, external id, state); see systems/stripe/readback.py."""

    calls: int

    def __iter__(self) -> Any: ...

    def missing(self, external_ids: Iterable[str]) -> set[str]: ...

    def confirm_missing(self, candidates: Iterable[str]) -> set[str]: ...


def comparable_fields(obj: ExternalObject) -> list[Field]:
    """Fields whose catalog and external values can be compared directly."""
    def plain(f: Field) -> bool:
        reversible = f.transform is None or f.inbound_values is not None or f.inbound_transform is not None
        return f.references is None and not f.extra_columns and f.type != "object" and reversible

    return [f for f in obj.fields if plain(f)]


def _external(f: Field, state: Mapping[str, Any]) -> Any:
    raw = external_value(state, f.target)
    try:
        return comparable(f, inbound_value(f, raw)) if f.inbound else comparable(f, raw)
    except (InvalidValue, ValueError, TypeError):
        return repr(raw)


def _differences(fields: list[Field], row: Mapping[str, Any], state: Mapping[str, Any]) -> list[Field]:
    return [f for f in fields if _external(f, state) != comparable(f, row.get(f.column))]


class ReadBackRun:
    def __init__(self, spec: CatalogSpec, system: str, obj: ExternalObject, source: Any, mappings: MappingRepository,
                 forget_fingerprint: Callable[[str, str, str, str], None],
                 store_events: Callable[[list[tuple[str, str, Optional[Mapping[str, Any]]]]], int],
                 learn_bases: Optional[Callable[[str, str, str, dict[str, str]], None]] = None):
        """`forget_fingerprint(catalog, system, object_type, internal_id)`; `store_events([(internal_id,
        external_id, state or None for a deletion)])` puts read-back events in the inbox; `learn_bases(catalog,
        system, object_type, {internal_id: base JSON})` gives a merged object found in sync a base it lacks."""
        self.spec, self.system, self.obj, self.source, self.mappings = spec, system, obj, source, mappings
        self.forget, self.store_events, self.learn_bases = forget_fingerprint, store_events, learn_bases
        self.fields = comparable_fields(obj)
        self.report = DriftReport()

    def run(self, listing: Listing, mapped: Mapping[str, str]) -> DriftReport:
        """`mapped`: external id -> internal id of every synced mapping of the object type."""
        batch: list[tuple[str, str, dict[str, Any]]] = []
        for item in listing:
            batch.append(item)
            if len(batch) >= CHUNK:
                self._judge(batch, mapped)
                batch = []
        if batch:
            self._judge(batch, mapped)
        gone = listing.confirm_missing(listing.missing(mapped))
        if gone:
            self.store_events([(mapped[external_id], external_id, None) for external_id in sorted(gone)])
        for external_id in sorted(gone):
            self.report.missing += 1
            self.report.note("missing", mapped[external_id], external_id)
        self.report.api_calls = listing.calls
        return self.report

    def _judge(self, batch: list[tuple[str, str, dict[str, Any]]], mapped: Mapping[str, str]) -> None:
        ids = sorted({internal_id for internal_id, _, _ in batch})
        states = self.mappings.load_states(self.spec.name, self.system, ids)
        rows = {str(r[self.spec.primary_key]): r for chunk in self.source.iter_chunks(
            self.spec, Selection(ids=ids), len(ids)) for r in chunk}
        events, bases = [], {}
        for internal_id, external_id, state in batch:
            self.report.checked += 1
            mapping = states.get((internal_id, self.obj.object_type))
            row = rows.get(internal_id)
            if mapped.get(external_id) != internal_id or mapping is None or mapping.external_id != external_id:
                self.report.duplicates += 1
                self.report.note("duplicate", internal_id, external_id)
                continue
            if row is None or mapping.status != SYNCED or self._fingerprint(row) != mapping.fingerprint:
                self.report.unsent += 1
                continue
            differ = _differences(self.fields, row, state)
            outbound = [f.column for f in differ if not f.inbound]
            inbound = [f.column for f in differ if f.inbound]
            if outbound:
                self.forget(self.spec.name, self.system, self.obj.object_type, internal_id)
                self.report.changed += 1
                self.report.note("changed", internal_id, external_id, outbound)
            if inbound:
                events.append((internal_id, external_id, state))
                self.report.inbound += 1
                self.report.note("inbound", internal_id, external_id, inbound)
            if not differ:
                self.report.in_sync += 1
                if mapping.base is None and merges(self.obj):  # read back equal: the row's payload is the base
                    bases[internal_id] = dump(base_of(self.obj, self._payload(row)))
        if events:
            self.store_events(events)
        if bases and self.learn_bases is not None:
            self.learn_bases(self.spec.name, self.system, self.obj.object_type, bases)

    def _build(self, row: Mapping[str, Any]) -> tuple[dict[str, Any], list[Any]]:
        references = _resolve_references(self.spec, self.system, [row], self.mappings)[0].get(self.obj.object_type)
        return mapper_for(self.obj).build(row, references)

    def _payload(self, row: Mapping[str, Any]) -> dict[str, Any]:
        return self._build(row)[0]

    def _fingerprint(self, row: Mapping[str, Any]) -> Optional[str]:
        payload, errors = self._build(row)
        return None if errors else fingerprint(payload)
