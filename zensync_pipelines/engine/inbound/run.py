"""The inbound run: apply one system's due inbox events to a catalog, batch by batch.

Per batch: decode the events, order them per object (plan), fetch the current state of the objects whose
order the events cannot tell (outside any transaction), then in ONE transaction claim the events, write the
catalog rows and their mappings (rows) and mark the events. A crash anywhere leaves either all of a
batch or none of it; an event is applied exactly once. A system or database outage raises and fails the run,
leaving the events due; a bad event fails alone, with its reason, and is retried with backoff.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections import defaultdict
from typing import Any, Mapping, Optional, Protocol, Sequence

from .plan import plan_object
from .rows import RowApplier
from .types import (REMOVE, UNTRACKED, UPSERT, Adopter, Change, EventDecoder, InboundReport, Neighbour, StateFetcher,
                    Verdict)
from .values import as_utc
from ..merge import merges
from ..spec import CatalogSpec

IGNORED, FAILED = "ignored", "failed"  # the inbox's statuses; RowApplier's verdicts use them too
UNDECODABLE = "undecodable"


class InboundTables(Protocol):
    def due(self, catalog: str, system: str, limit: int, after_id: int = 0) -> list[dict[str, Any]]: ...

    def history(self, system: str, object_type: str, external_ids: Sequence[str],
                delete_types: frozenset[str]) -> dict[str, tuple[Optional[dt.datetime], bool]]: ...

    def transaction(self) -> Any: ...  # a context manager yielding the writer RowApplier uses

    # Needed only for a system whose decoder has `split_envelope` (one stored delivery of several events, see
    # store/inbox_envelopes.py): split_envelopes(catalog, system, split) -> how many events were new.


def _result(event: int, status: str, outcome: str, error: Optional[str] = None) -> Verdict:
    return Verdict(event, status, outcome, error)


class InboundRun:
    def __init__(self, spec: CatalogSpec, system: str, tables: InboundTables, decoder: EventDecoder,
                 fetcher: StateFetcher, run_id: str, batch_size: int = 500, adopter: Optional[Adopter] = None,
                 neighbours: Optional[Mapping[str, Sequence[Neighbour]]] = None):
        self.spec, self.system, self.tables, self.decoder = spec, system, tables, decoder
        self.fetcher, self.run_id, self.batch_size, self.adopter = fetcher, run_id, batch_size, adopter
        self.neighbours = neighbours  # other catalogs reading the same object types: events may be theirs
        self.objects = {obj.object_type: obj for obj in spec.inbound_objects(system)}
        self.report = InboundReport()

    def run(self, max_events: int = 100_000) -> InboundReport:
        started, calls_before = time.monotonic(), self.fetcher.api_calls
        after, seen, taken, behind = 0, 0, set(), False
        split = getattr(self.decoder, "split_envelope", None)
        try:
            while seen < max_events:
                if split is not None:  # before each batch: an envelope stored meanwhile is split in this run too
                    self.tables.split_envelopes(self.spec.name, self.system, split)
                rows = [r for r in self.tables.due(self.spec.name, self.system, self.batch_size, after)
                        if r["id"] not in taken]
                if not rows:
                    if behind or not taken:
                        break
                    # One more pass from the start: another catalog's run may have handed this catalog events
                    # while this one ran (engine/inbound/rows.py, HANDED_OFF), with ids behind this pass. Taken
                    # now, they wait for no sensor tick and no new run; an event this run left due (failed with
                    # a backoff is not due) is never taken twice.
                    after, behind = 0, True
                    continue
                after, seen = rows[-1]["id"], seen + len(rows)
                taken.update(r["id"] for r in rows)
                self._batch(rows)
        finally:
            self.report.fetches += self.fetcher.api_calls - calls_before
            self.report.seconds += time.monotonic() - started
        return self.report

    def _decode(self, rows: Sequence[Mapping[str, Any]]) -> tuple[list[Change], dict[int, Verdict]]:
        changes, results = [], {}
        for row in rows:
            if row["object_type"] not in self.objects:
                results[row["id"]] = _result(row["id"], IGNORED, UNTRACKED,
                                             f"{self.spec.name} reads no {row['object_type']} from {self.system}")
                continue
            try:
                changes.append(self.decoder.decode(row))
            except Exception as error:  # a payload that cannot be read never will be: keep it, with the reason
                results[row["id"]] = _result(row["id"], IGNORED, UNDECODABLE,
                                             f"{type(error).__name__}: {error}"[:500])
        return changes, results

    def _verify(self, changes: list[Change]) -> list[Change]:
        """For a system whose events are hints (Salesforce), every non-echo upsert takes the object's current
        state, read in one batched call per object type. Echoes of objects merged field by field are read too:
        the system names only the last writer, so a person's edit just before zensync's write would otherwise be
        hidden by it; the merge finds it against the base (and counts the echo as one when nothing differs).
        Other echoes need no read (they are never applied)."""
        merged = {object_type for object_type, obj in self.objects.items() if merges(obj)}

        def read(change: Change) -> bool:
            return change.kind != REMOVE and (not change.echo or change.object_type in merged)

        wanted: dict[str, set[str]] = defaultdict(set)
        for change in changes:
            if read(change):
                wanted[change.object_type].add(change.external_id)
        current = {(object_type, external_id): state for object_type, ids in wanted.items()
                   for external_id, state in self.fetcher.fetch_many(object_type, sorted(ids)).items()}
        verified = []
        for c in changes:
            if (c.object_type, c.external_id) not in current or not read(c):
                verified.append(c)
                continue
            found = self.decoder.verified(c, current[(c.object_type, c.external_id)])
            if c.echo and found.kind == UPSERT:
                found = dataclasses.replace(found, echo=False, own=True)
            verified.append(found if not c.echo or found.kind == UPSERT else c)
        return verified

    def _order(self, changes: list[Change], results: dict[int, Verdict]) -> list[Change]:
        groups: dict[tuple[str, str], list[Change]] = defaultdict(list)
        for change in changes:
            groups[(change.object_type, change.external_id)].append(change)
        history: dict[tuple[str, str], tuple[Optional[dt.datetime], bool]] = {}
        for object_type in {t for t, _ in groups}:
            found = self.tables.history(self.system, object_type, [e for t, e in groups if t == object_type],
                                        self.decoder.delete_types)
            history.update({(object_type, external_id): value for external_id, value in found.items()})
        effective = []
        for key, group in groups.items():
            obj = self.objects[key[0]]
            fields, merge = obj.inbound_fields, merges(obj)
            newest, deleted = history.get(key, (None, False))
            plan = plan_object(group, fields, as_utc(newest), deleted, merge=merge)
            if plan.needs_fetch:
                plan = plan_object(group, fields, as_utc(newest), deleted, self.fetcher.fetch(*key), merge)
            results.update({event: _result(event, IGNORED, outcome) for event, outcome in plan.verdicts.items()})
            if plan.effective is not None:
                effective.append(plan.effective)
        return effective

    def _batch(self, rows: Sequence[Mapping[str, Any]]) -> None:
        changes, results = self._decode(rows)
        complete = getattr(self.decoder, "complete", None)
        if complete is not None:
            # What a system's events leave out and its API says (a Stripe charge's invoice): read outside the
            # decode's guard, so an outage fails the run with the events still due instead of dropping them.
            changes = complete(changes)
        if getattr(self.decoder, "verify_state", False):
            changes = self._verify(changes)
        effective = self._order(changes, results)
        with self.tables.transaction() as writer:
            claimed = writer.claim([row["id"] for row in rows])
            mine = [c for c in effective if c.event in claimed]
            applier = RowApplier(self.spec, self.system, writer, self.run_id, self.fetcher, self.adopter,
                                 self.neighbours)
            applier.load(mine)
            for change in mine:
                results[change.event] = applier.apply(self.objects[change.object_type], change)
            final = [result for event, result in results.items() if event in claimed]
            writer.mark(final)
        stored = {row["id"]: row for row in rows}
        for result in final:  # counted once committed
            row = stored[result.id]
            self.report.count(result.outcome, failed=result.status == FAILED, event=row["event_id"],
                              object=f"{row['object_type']} {row['external_id']}", code=result.outcome,
                              reason=result.error, attempts=row["attempts"] + 1)
        self.report.conflicts_lost += applier.partly_lost
        self.report.conflicts += applier.conflicts
