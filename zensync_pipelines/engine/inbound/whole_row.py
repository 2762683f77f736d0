"""Apply one object's change to its row judged whole: the path of objects without a base to merge against (no
two-way field, or a mapping from before bases whose row is not in sync). Field-by-field merging is
field_merge.py's; linking, imports and deletes are rows.py's, which builds on this class.

Echo suppression, second line (the first is the system's own marker, e.g. Stripe's idempotency key): when the
object's values, put over the row, give exactly the fingerprint zensync last wrote while the row has changed
since, the event reports zensync's own older write: applying it would undo a newer catalog edit.

No ping-pong: when the row was in sync before the change (its payload's fingerprint is the mapping's), the
mapping's fingerprint follows the applied state, so the outbound run finds nothing to send. Had the row other
unsent changes, the fingerprint stays and the outbound run sends them, with the applied values, once.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Optional, Sequence

from .types import APPLIED, CONFLICT_LOST, ECHO, UNCHANGED, Change, RowRefused, Verdict
from .values import advanced_cursor, as_utc, comparable, external_value, inbound_value
from ..mapper import mapper_for
from ..payload import fingerprint
from ..spec import BOTH, CATALOG_WINS, NEWEST_WINS, CatalogSpec, ExternalObject, Field, InvalidValue
from ..sync import _resolve_references
from ..types import SYNCED, MappingState

IGNORED, FAILED = "ignored", "failed"
TIE: Any = Verdict(-1, "", "tie")  # apply() settles it by reading the object
BACKOFF_SECONDS, BACKOFF_MAX_SECONDS = 30, 3600


def retry_at(attempts: int) -> dt.datetime:
    """Failed events wait 30 s, 60 s, 120 s ... up to an hour: long enough for a fix, never given up."""
    delay = min(BACKOFF_SECONDS * 2 ** min(attempts, 20), BACKOFF_MAX_SECONDS)
    return dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=delay)


class WholeRow:
    """Judging a change whole, and the value helpers every path shares."""

    spec: CatalogSpec
    system: str
    writer: Any
    rows: dict[str, dict[str, Any]]
    partly_lost: int
    referenced: dict[tuple[str, str], dict[str, str]]  # (catalog, object type) -> external id -> internal id

    def _whole(self, obj: ExternalObject, change: Change, internal_id: str, row: dict[str, Any],
               state: Optional[MappingState]) -> Verdict:
        if change.own:  # zensync's own write, and no base to merge it against: never applied, as before
            return Verdict(change.event, IGNORED, ECHO)
        values, errors = self._values(obj, change)
        if errors:
            return self._failed(change, errors[0][0], "; ".join(f"{column}: {reason}" for _, column, reason in errors))
        changed = {f.column: values[f.column] for f in obj.inbound_fields
                   if comparable(f, values[f.column]) != comparable(f, row.get(f.column))}
        if not changed:
            return Verdict(change.event, APPLIED, UNCHANGED)
        before = self._fingerprint(obj, row)
        in_sync = state is not None and state.status == SYNCED and before is not None and before == state.fingerprint
        if state is not None and state.status == SYNCED and not in_sync \
                and self._fingerprint(obj, row | values) == state.fingerprint:
            # The object is exactly what zensync last wrote and the row moved on since: an older write's echo.
            # Inbound-only fields are never written out, so what they carry is still news.
            changed = {f.column: changed[f.column] for f in obj.inbound_fields
                       if f.column in changed and f.direction != BOTH}
            if not changed:
                return Verdict(change.event, IGNORED, ECHO)
        wins = {column: self._wins(obj, column, change, row, in_sync) for column in changed}
        if TIE in wins.values():
            return TIE
        winners = {column: value for column, value in changed.items() if wins[column]}
        if not winners:
            return Verdict(change.event, IGNORED, CONFLICT_LOST,
                           f"the catalog's newer {', '.join(changed)} kept")
        self.partly_lost += len(winners) < len(changed)
        return self._write(obj, change, internal_id, row, state, winners, in_sync)

    def _values(self, obj: ExternalObject, change: Change,
                fields: Optional[Sequence[Field]] = None) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
        values, errors = {}, []
        for f in obj.inbound_fields if fields is None else fields:
            try:
                values[f.column] = inbound_value(f, self._referenced(f, external_value(change.state, f.target)))
            except InvalidValue as bad:
                errors.append((bad.code, f.column, f"{change.object_type}.{f.target} {bad.reason}"))
            except Exception as bad:  # a user's inbound transform must not stop the batch
                errors.append(("transform_error", f.column, f"inbound transform failed: {bad}"))
        return values, errors

    def _referenced(self, f: Field, raw: Any) -> Any:
        """An inbound reference's external id -> the referenced row's internal id, from that catalog's mapping in
        this system (loaded per batch: `referenced`); an id no mapping names yet fails the event, which retries,
        rather than a row pointing at nothing. Other fields' values pass as they are."""
        if f.references is None or raw is None:
            return raw
        external_id = str(raw.get("id") if isinstance(raw, dict) else raw)  # an expanded object or its id
        internal_id = self.referenced.get((f.references.catalog, f.references.object_type), {}).get(external_id)
        if internal_id is None:
            raise InvalidValue(f"{f.references.noun} {external_id} is not linked to a {f.references.catalog} row "
                               f"yet (no {self.system} mapping names it); retried", "unknown_reference")
        return internal_id

    def _wins(self, obj: ExternalObject, column: str, change: Change, row: dict[str, Any], in_sync: bool) -> Any:
        rule = next(f.conflict for f in obj.inbound_fields if f.column == column)
        if rule == CATALOG_WINS:
            return in_sync  # the catalog changed too (unsent): it wins
        if rule == NEWEST_WINS:
            cursor = row.get(self.spec.cursor_column)
            if not isinstance(cursor, dt.datetime):
                return in_sync  # no time to compare: a catalog change not sent yet keeps its value
            cursor = as_utc(cursor)
            if in_sync and change.occurred_at == cursor.replace(microsecond=0):
                return TIE  # the same second as the catalog's last change, which was sent: order unknown
            return change.occurred_at > cursor
        return True  # system_wins, and direction "in": the system owns the value

    def _payload(self, obj: ExternalObject, row: dict[str, Any]) -> tuple[dict[str, Any], bool]:
        references = _resolve_references(self.spec, self.system, [row], self.writer)[0].get(obj.object_type)
        payload, errors = mapper_for(obj).build(row, references)
        return payload, not errors

    def _fingerprint(self, obj: ExternalObject, row: dict[str, Any]) -> Optional[str]:
        payload, ok = self._payload(obj, row)
        return fingerprint(payload) if ok else None

    def _write(self, obj: ExternalObject, change: Change, internal_id: str, row: dict[str, Any],
               state: Optional[MappingState], winners: dict[str, Any], in_sync: bool) -> Verdict:
        values = dict(winners)
        cursor = row.get(self.spec.cursor_column)
        if isinstance(cursor, dt.datetime):
            # The cursor records when the value changed, on either side: newest-wins compares the next event
            # with it, and the outbound sensors of other systems notice the row.
            changed = any(row.get(column) != value for column, value in winners.items())
            values[self.spec.cursor_column] = advanced_cursor(cursor, change.occurred_at) if changed \
                else max(as_utc(cursor), change.occurred_at)
        after = row | values
        try:
            with self.writer.savepoint():
                self.writer.update_row(self.spec, internal_id, values)
                if in_sync:
                    self.writer.set_mapping(self.spec.name, self.system, obj.object_type, internal_id,
                                            fingerprint=self._fingerprint(obj, after))
        except RowRefused as refused:
            return self._failed(change, "rejected_by_database", str(refused))
        self.rows[internal_id] = after
        return Verdict(change.event, APPLIED, APPLIED)

    def _failed(self, change: Change, code: str, reason: str) -> Verdict:
        return Verdict(change.event, FAILED, code, reason, retry_at(change.attempts))
