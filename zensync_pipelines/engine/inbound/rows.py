"""Apply one object's effective change to its catalog row: link, values, conflict rules, delete policy, and the
mapping's fingerprint, all through the batch's writer (one transaction).

The row is found by the object's mapping or zensync's tag (or imported); a delete goes by the inbound policy; an
upsert is merged field by field against the mapping's base (field_merge.py) or, without one, judged whole
(whole_row.py, the class this one builds on).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any, Mapping, Optional, Sequence

from .types import (APPLIED, CREATED, ECHO, HANDED_OFF, PENDING, RECREATE, REMOVE, ROW_DELETED, SOFT_DELETE, UNLINK,
                    UNLINKED_OBJECT, UNTRACKED, UPSERT, Adopter, Change, Neighbour, RowRefused, StateFetcher, Verdict)
from .field_merge import apply_merge, base_for
from .values import external_value
from .whole_row import IGNORED, TIE, WholeRow
from ..merge import SYSTEM, base_of, dump, merges
from ..payload import fingerprint
from ..spec import CatalogSpec, ExternalObject, Field
from ..types import DELETED, SYNCED, UNLINKED, MappingState


class RowApplier(WholeRow):
    def __init__(self, spec: CatalogSpec, system: str, writer: Any, run_id: str, fetcher: StateFetcher,
                 adopter: Optional[Adopter] = None, neighbours: Optional[Mapping[str, Sequence[Neighbour]]] = None):
        self.spec, self.system, self.writer, self.run_id, self.fetcher = spec, system, writer, run_id, fetcher
        self.adopter = adopter
        # Object type -> the other catalogs reading it back from this system (engine/inbound/types.py).
        self.neighbours = {t: list(n) for t, n in (neighbours or {}).items() if n}
        self.theirs: dict[str, dict[str, str]] = {}  # object type -> external id -> the neighbour whose mapping has it
        self.by_external: dict[str, dict[str, tuple[str, MappingState]]] = {}
        self.by_internal: dict[str, dict[str, MappingState]] = {}
        self.rows: dict[str, dict[str, Any]] = {}
        self.partly_lost = 0  # applied events of which some field lost to the catalog
        self.conflicts = 0  # fields changed on both sides to different values (recorded by the merge)
        self.referenced: dict[tuple[str, str], dict[str, str]] = {}

    def load(self, changes: Sequence[Change]) -> None:
        """Links and locked rows for every change of the batch: one query per object type, one for the rows."""
        wanted: list[str] = []
        for object_type in {c.object_type for c in changes}:
            mine = [c for c in changes if c.object_type == object_type]
            tags = sorted({c.tag for c in mine if c.tag})
            by_external, by_internal = self.writer.links(self.spec.name, self.system, object_type,
                                                         [c.external_id for c in mine], tags)
            self.by_external[object_type], self.by_internal[object_type] = by_external, by_internal
            if object_type in self.neighbours:  # a shared type: which other catalog links the rest
                unknown = [c.external_id for c in mine if c.external_id not in by_external]
                self.theirs[object_type] = self.writer.linked_elsewhere(
                    [n.catalog for n in self.neighbours[object_type]], self.system, object_type, unknown)
            wanted += [internal_id for internal_id, _ in by_external.values()] + tags
        self.rows = self.writer.rows(self.spec, sorted(set(wanted)))
        self.referenced = self._load_references(changes)

    def _load_references(self, changes: Sequence[Change]) -> dict[tuple[str, str], dict[str, str]]:
        """The rows the batch's inbound references name: one mapping query per referenced object type."""
        wanted: dict[tuple[str, str], set[str]] = {}
        for obj in self.spec.inbound_objects(self.system):
            mine = [c for c in changes if c.object_type == obj.object_type]
            for f in obj.inbound_fields:
                if f.references is None:
                    continue
                ids = wanted.setdefault((f.references.catalog, f.references.object_type), set())
                for change in mine:
                    raw = external_value(change.state, f.target)
                    if raw is not None:
                        ids.add(str(raw.get("id") if isinstance(raw, dict) else raw))
        found = {}
        for (catalog, object_type), ids in wanted.items():
            by_external, _ = self.writer.links(catalog, self.system, object_type, sorted(ids), []) if ids else ({}, {})
            found[(catalog, object_type)] = {external_id: internal_id
                                             for external_id, (internal_id, _) in by_external.items()}
        return found

    # -- one change ----------------------------------------------------------------------------------------------
    def apply(self, obj: ExternalObject, change: Change) -> Verdict:
        verdict = self._apply(obj, change)
        if verdict is TIE:
            # Stripe stamps whole seconds: a change in the very second of the row's last (already sent) catalog
            # change cannot be ordered against it. The object's current state is newer than both: apply that.
            current = self.fetcher.fetch(change.object_type, change.external_id)
            settled = dataclasses.replace(change, kind=UPSERT if current is not None else REMOVE,
                                          state=current or {}, occurred_at=change.occurred_at + dt.timedelta(seconds=1))
            verdict = self._apply(obj, settled)
        return verdict

    def _apply(self, obj: ExternalObject, change: Change) -> Verdict:
        link = self._link(obj, change)
        if isinstance(link, Verdict):
            return link
        internal_id, state = link
        row = self.rows.get(internal_id)
        if row is None:
            return self._failed(change, "missing_row", f"{self.spec.name} row {internal_id} does not exist")
        if self.spec.soft_delete_column and row.get(self.spec.soft_delete_column) is not None:
            return Verdict(change.event, IGNORED, ROW_DELETED)
        if change.kind == REMOVE:
            return self._delete(obj, change, internal_id, row, state)
        if merges(obj):
            merged = self._merge(obj, change, internal_id, row, state)
            if merged is not None:
                return merged
        return self._whole(obj, change, internal_id, row, state)

    def _merge(self, obj: ExternalObject, change: Change, internal_id: str, row: dict[str, Any],
               state: Optional[MappingState]) -> Optional[Verdict]:
        """Field by field against the base (engine/inbound/field_merge.py); None when the mapping has no base yet and
        the row is not in sync, which is judged whole as before."""
        payload, ok = self._payload(obj, row)
        base = base_for(obj, state, payload, fingerprint(payload) if ok else None)
        if base is None:
            return None
        verdict, after, conflicts = apply_merge(self.spec, self.system, self.writer, self.run_id, obj, change,
                                                internal_id, row, state, base, payload,
                                                lambda code, reason: self._failed(change, code, reason),
                                                self._referenced)
        if after is not None:
            self.rows[internal_id] = after
        self.conflicts += len(conflicts)
        self.partly_lost += verdict.outcome == APPLIED and any(c.winner != SYSTEM for c in conflicts)
        return verdict

    def _link(self, obj: ExternalObject, change: Change) -> tuple[str, Optional[MappingState]] | Verdict:
        """The catalog row an object belongs to: its mapping first, zensync's tag second."""
        found = self.by_external.get(change.object_type, {}).get(change.external_id)
        if found is not None:
            internal_id, state = found
            if state.status in (DELETED, UNLINKED):
                verdict = ECHO if change.kind == REMOVE else UNLINKED_OBJECT  # zensync deleted or let go of it
                return Verdict(change.event, IGNORED, verdict)
            return internal_id, state
        if change.tag:
            state = self.by_internal.get(change.object_type, {}).get(change.tag)
            if state is not None and state.external_id and state.external_id != change.external_id:
                return Verdict(change.event, IGNORED, UNLINKED_OBJECT)  # an earlier object of a re-created row
            if change.kind == REMOVE:
                return Verdict(change.event, IGNORED, ECHO)  # never linked, now gone: nothing to undo
            return self._failed(change, "not_linked_yet", f"{change.object_type} {change.external_id} carries "
                                f"zensync's tag for row {change.tag} but its creation is not recorded yet")
        owner = self._owner(change, obj.inbound_policy.create_rows)
        if owner is not None and owner.reads:
            return Verdict(change.event, PENDING, HANDED_OFF, f"{change.object_type} {change.external_id} is "
                           f"{owner.catalog}'s, not {self.spec.name}'s", catalog=owner.catalog)
        if owner is not None:  # a catalog that only writes these objects: nobody takes its objects' changes
            return Verdict(change.event, IGNORED, UNTRACKED, f"{change.object_type} {change.external_id} is "
                           f"{owner.catalog}'s, which reads no {change.object_type} back")
        if change.kind == REMOVE or not obj.inbound_policy.create_rows:
            return Verdict(change.event, IGNORED, UNTRACKED)
        return self._import(obj, change)

    def _owner(self, change: Change, imports: bool) -> Optional[Neighbour]:
        """The other catalog an object this catalog does not link belongs to: the one whose mapping holds its id,
        else the one whose tag field it carries, else (neither, and this catalog does not import) the importer.
        Never this catalog's own import of another's object: that would tie one record to two rows."""
        neighbours = self.neighbours.get(change.object_type, [])
        mapped = self.theirs.get(change.object_type, {}).get(change.external_id)
        tagged = [n for n in neighbours if n.tag_field and _value(change.state, n.tag_field) not in (None, "")]
        importer = [n for n in neighbours if n.create_rows]
        found = [n for n in neighbours if n.catalog == mapped] or tagged or \
            (importer if not imports and change.kind != REMOVE else [])
        return found[0] if found else None

    def _delete(self, obj: ExternalObject, change: Change, internal_id: str, row: dict[str, Any],
                state: Optional[MappingState]) -> Verdict:
        policy, now = obj.inbound_policy.on_delete, dt.datetime.now(dt.timezone.utc)
        name, object_type = self.spec.name, obj.object_type
        if policy == RECREATE:
            # The mapping row stays, with its write sequence: the re-creation is a new intent and derives a new
            # idempotency key (engine/keys.py), never the first creation's, whose answer is the deleted object.
            attempts = 1 + self.writer.unlinks(name, self.system, object_type, internal_id)
            self.writer.set_mapping(name, self.system, object_type, internal_id, status=DELETED, fingerprint=None,
                                    field_base=None)
            self.writer.log_unlink(self.run_id, name, self.system, object_type, internal_id, attempts,
                                   f"{object_type} {change.external_id} deleted in {self.system}; re-created next run")
            self.writer.update_row(self.spec, internal_id, {self.spec.cursor_column: now})  # the sensor's signal
        elif policy == UNLINK:
            self.writer.set_mapping(name, self.system, object_type, internal_id, status=UNLINKED)
        else:  # soft_delete
            self.writer.update_row(self.spec, internal_id, {self.spec.soft_delete_column: change.occurred_at,
                                                            self.spec.cursor_column: now})
            self.writer.set_mapping(name, self.system, object_type, internal_id, status=DELETED)
        return Verdict(change.event, APPLIED, {RECREATE: RECREATE, UNLINK: UNLINK}.get(policy, SOFT_DELETE))

    def _import(self, obj: ExternalObject, change: Change) -> Verdict:
        """An object made in the system becomes a row; the mapping links it with no fingerprint, so the next
        outbound run writes the row's full payload (and zensync's tag) to it once. The new row takes every value
        it can read back: the inbound fields and the outbound ones sent as they are (an Account's Name)."""
        values, errors = self._values(obj, change, _importable(obj))
        if errors:
            return self._failed(change, errors[0][0], "; ".join(f"{column}: {reason}" for _, column, reason in errors))
        now = dt.datetime.now(dt.timezone.utc)
        values |= {self.spec.created_at_column: now, self.spec.cursor_column: now}
        try:
            with self.writer.savepoint():
                internal_id = self.writer.insert_row(self.spec, values)
                # The object's values are what the system holds: the base of the merge and of the first update.
                base = dump(base_of(obj, change.state)) if merges(obj) else None
                self.writer.set_mapping(self.spec.name, self.system, obj.object_type, internal_id, status=SYNCED,
                                        external_id=change.external_id, fingerprint=None, field_base=base)
                # Tagged before the commit: a refusal or an outage fails the run with the batch rolled back (the
                # events stay due). Never a committed row whose object the next outbound run cannot find.
                if self.adopter is not None:
                    self.adopter.adopt(obj.object_type, change.external_id, str(internal_id))
        except RowRefused as refused:
            return self._failed(change, "cannot_create_row", str(refused))
        return Verdict(change.event, APPLIED, CREATED)


def _value(state: Mapping[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        state = state.get(part) if isinstance(state, Mapping) else None
    return state


def _importable(obj: ExternalObject) -> list[Field]:
    """Fields whose catalog value a new row can take from the object: inbound ones, and outbound ones whose value
    is sent untransformed (one object's field per column)."""
    inbound = obj.inbound_fields
    columns = {f.column for f in inbound}
    plain = [f for f in obj.fields if not f.inbound and f.transform is None and f.type != "object"
             and f.column not in columns and sum(g.column == f.column for g in obj.fields) == 1]
    return [*inbound, *plain]
