"""Never a silent overwrite: an update waits while the system changed one of its fields since the base.

A partial update sends the fields whose catalog value moved since the base (engine/merge.py). When the system
changed one of them too, and no run has merged that change yet, sending it would overwrite the person's edit before
anyone saw it. Stripe says afterwards which fields its change touched (`previous_attributes`, kept in the event),
so the inbound merge still finds and records such an edit; Salesforce says nothing of the kind and polling reads
only the record as it is now, so after zensync's write no trace of the edit is left anywhere.

So, for an adapter that can read its objects' current values in bulk (`read_current`, Salesforce: one SOQL `IN`
query per 200 records), each partial update of a merged object is checked against them first: a two-way field
whose value there differs from the mapping's base and from the catalog's holds the update back, whole (one-way
fields are the catalog's to overwrite), and leaves it to the inbound run, whose merge decides the field by its
rule and records the conflict, once, with both values. The outcome says the system holds the base, so the next
outbound run sends the catalog's fields once the merge moved the base (the catalog won), and only the others
when the catalog took the system's value. A held-back update makes no call.
"""

from __future__ import annotations

import dataclasses
import itertools
from typing import Any, Callable, Iterable, Iterator, Mapping, Optional, Sequence

from .failures import scrub
from .inbound.values import comparable, external_value
from .merge import dump, load, merges, payload_of
from .same_row import object_fingerprint
from .spec import BOTH, CatalogSpec, ExternalObject, Field
from .types import FAILED, SYNCED, UPDATE, MappingState, Operation, Outcome

CHUNK = 200  # updates checked per read: one SOQL `IN` query's worth
# (object type in the system, external ids, fields) -> {external id: the object now, None when gone}
ReadCurrent = Callable[[str, Sequence[str], Sequence[str]], Mapping[str, Optional[Mapping[str, Any]]]]
LoadStates = Callable[[Sequence[str]], Mapping[tuple[str, str], MappingState]]


class ReadFailed(Exception):
    """Raised by `read_current` when the system refused or failed the read: the updates it was for fail (retried
    automatically when `transient`), never sent unchecked; the run goes on."""

    def __init__(self, message: str, transient: bool):
        super().__init__(message)
        self.transient = transient


class OverwriteGuard:
    def __init__(self, spec: CatalogSpec, system: str, adapter: Any, load_states: LoadStates,
                 unsettle: Callable[[str], None]):
        """`unsettle(internal_id)`: a row with an update held back is not in sync, so never settled
        (engine/settled.py): the next run plans it again."""
        self.read: Optional[ReadCurrent] = getattr(adapter, "read_current", None)
        self.objects = {obj.name: obj for obj in spec.objects(system) if merges(obj)}
        self.load_states, self.unsettle = load_states, unsettle

    def screen(self, object_type: str, items: Iterable[Operation | Outcome]) -> Iterator[Operation | Outcome]:
        """The step's items, each partial update checked (and maybe answered without a call: an Outcome)."""
        obj = self.objects.get(object_type)
        if self.read is None or obj is None:
            yield from items
            return
        source = iter(items)
        while chunk := list(itertools.islice(source, CHUNK)):
            checked = [op for op in chunk if isinstance(op, Operation) and op.action == UPDATE
                       and op.fields is not None and op.external_id is not None]
            if not checked:
                yield from chunk
                continue
            # The mapping's base now (an inbound merge may have moved it since the plan), and the objects now.
            states = self.load_states([op.internal_id for op in checked])
            fields = sorted({f.target.split(".")[0] for f in _two_way(obj)})
            try:
                current = self.read(checked[0].system_type, [op.external_id for op in checked], fields)
            except ReadFailed as failed:
                current, failure = {}, failed
            else:
                failure = None
            ids = {id(op) for op in checked}
            for item in chunk:
                if id(item) in ids and failure is not None:
                    item = Outcome.of(item, FAILED, error_code="read_failed", error_message=scrub(str(failure)),
                                      transient=failure.transient)
                elif id(item) in ids:
                    state = states.get((item.internal_id, item.object_type))
                    screened = withhold(obj, item, load(state.base) if state is not None else None,
                                        current.get(item.external_id))  # type: ignore[arg-type]
                    if screened is not item:
                        self.unsettle(item.internal_id)
                    item = screened
                yield item


def withhold(obj: ExternalObject, op: Operation, base: Optional[Mapping[str, Any]],
             now: Optional[Mapping[str, Any]]) -> Operation | Outcome:
    """`op`, or, when the system changed a field it sends since `base` to a value other than the catalog's, the
    outcome of holding the whole update back: the system keeps `base` as far as zensync knows. Whole, not the
    other fields alone: a write would move the record's time, which newest-wins then compares with the catalog's.
    Unchanged when the base or the object is unknown (the write decides as before)."""
    if base is None or now is None or op.fields is None:
        return op
    sent = set(op.fields)
    for f in _two_way(obj):
        if f.target.split(".")[0] not in sent or f.target not in base:
            continue
        theirs = comparable(f, external_value(now, f.target))
        if theirs != comparable(f, base[f.target]) and theirs != comparable(f, external_value(op.payload, f.target)):
            kept = dataclasses.replace(op, base=dump(base), fingerprint=object_fingerprint(obj, payload_of(base)))
            return Outcome.of(kept, SYNCED, held=True)
    return op

def _two_way(obj: ExternalObject) -> list[Field]:
    """The fields a person may edit on the system's side and the merge decides; one-way fields are the catalog's."""
    return [f for f in obj.outbound_fields if f.direction == BOTH]
