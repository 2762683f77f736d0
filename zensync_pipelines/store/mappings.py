"""The external-id mapping table and the sync event log: the engine's memory between runs."""

from __future__ import annotations

import datetime as dt
import itertools
from operator import attrgetter
from typing import Any, Callable, Iterable, Iterator, Optional, Sequence

from sqlalchemy import Engine, and_, bindparam, func, select

from ..engine.retry import PERMANENT, STALE_PENDING, TRANSIENT, next_retry_at
from ..engine.spec import CatalogSpec
from ..engine.types import DELETED, FAILED, PENDING, UNLINKED, MappingState, Operation, Outcome
from . import bulkwrite, digests
from .catalog import CatalogTables
from .tables import DEFAULT_TENANT, mappings, sync_events

KEY = ("tenant", "catalog", "internal_id", "system", "object_type")
ERRORS = ("last_error_code", "last_error_field", "last_error")  # a mapping row's error columns, taken from
OUTCOME_ERRORS = ("error_code", "error_field", "error_message")  # these attributes of an outcome
EVENT_COLUMNS = ("catalog", "internal_id", "system", "object_type", "operation", "outcome", "error_code",
                 "error_field", "error_message", "attempt")
CHUNK = 900  # below SQLite's bound-parameter limit, comfortably


# Built once with an expanding parameter: building `in_(ids)` per chunk coerces every id into a bound parameter
# of its own, which cost more than the query when a reconcile loads a state for each of a million rows.
_STATES = select(mappings.c.internal_id, mappings.c.object_type, mappings.c.external_id, mappings.c.fingerprint,
                 mappings.c.status, mappings.c.attempts, mappings.c.write_seq, mappings.c.field_base,
                 mappings.c.pending_base).where(
    mappings.c.tenant == bindparam("tenant"), mappings.c.catalog == bindparam("catalog"),
    mappings.c.system == bindparam("system"),
    mappings.c.internal_id.in_(bindparam("ids", expanding=True)))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def _last_per_key(items: Iterable[Operation | Outcome]) -> dict[tuple[str, str], Iterable[Any]]:
    """(catalog, system) -> one item per mapping row, the last given, as consecutive single-row writes would
    leave it: a set-based upsert cannot touch a row twice."""
    groups: dict[tuple[str, str], dict[tuple[str, str], Any]] = {}
    for i in items:
        groups.setdefault((i.catalog, i.system), {})[(i.internal_id, i.object_type)] = i
    return {group: rows.values() for group, rows in groups.items()}


def _chunks(items: Sequence[Any], size: int = CHUNK) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


class MappingStore:
    """The mappings and sync events of one tenant: every read is filtered by it and every write carries it."""

    def __init__(self, engine: Engine, tenant: str = DEFAULT_TENANT):
        self.engine, self.tenant = engine, tenant

    @property
    def key_scope(self) -> str:
        """What the engine mixes into idempotency keys (engine/keys.py): nothing for the default tenant, whose keys
        stay those of a single-tenant deployment; the tenant otherwise, so two tenants' keys never meet."""
        return "" if self.tenant == DEFAULT_TENANT else self.tenant

    def _mine(self, catalog: str, system: str) -> list[Any]:
        c = mappings.c
        return [c.tenant == self.tenant, c.catalog == catalog, c.system == system]

    # -- reads -------------------------------------------------------------------------------------------------
    def load_states(self, catalog: str, system: str,
                    internal_ids: Sequence[str]) -> dict[tuple[str, str], MappingState]:
        states: dict[tuple[str, str], MappingState] = {}
        with self.engine.connect() as connection:
            for ids in _chunks(list(internal_ids)):
                # Plain tuples: named access on a million rows costs more than the query itself.
                found = connection.execute(_STATES, {"tenant": self.tenant, "catalog": catalog, "system": system,
                                                     "ids": ids}).all()
                for internal_id, object_type, *known in found:
                    states[(internal_id, object_type)] = MappingState(*known)
        return states

    def external_ids(self, catalog: str, system: str, object_type: str,
                     internal_ids: Sequence[str]) -> dict[str, str]:
        c = mappings.c
        found: dict[str, str] = {}
        with self.engine.connect() as connection:
            for ids in _chunks(list(internal_ids)):
                query = select(c.internal_id, c.external_id).where(
                    *self._mine(catalog, system), c.object_type == object_type,
                    c.internal_id.in_(ids), c.external_id.is_not(None), c.status.not_in([DELETED, UNLINKED]))
                found.update({row.internal_id: row.external_id for row in connection.execute(query)})
        return found

    def rows(self, catalog: str, system: str, **filters: Any) -> list[dict[str, Any]]:
        """Mapping rows as dicts, for checks, reports and tests."""
        conditions = self._mine(catalog, system)
        conditions += [mappings.c[name] == value for name, value in filters.items()]
        with self.engine.connect() as connection:
            query = select(mappings).where(and_(*conditions)).order_by(mappings.c.internal_id)
            return [dict(row._mapping) for row in connection.execute(query)]

    def status_counts(self, catalog: str, system: str) -> dict[str, int]:
        c = mappings.c
        with self.engine.connect() as connection:
            query = select(c.status, func.count()).where(*self._mine(catalog, system)) \
                .group_by(c.status)
            return {status: count for status, count in connection.execute(query)}

    def object_status_counts(self, catalog: str, system: str) -> dict[tuple[str, str], int]:
        """(object type, status) -> rows, for the parity check."""
        c = mappings.c
        with self.engine.connect() as connection:
            query = select(c.object_type, c.status, func.count()).where(*self._mine(catalog, system)) \
                .group_by(c.object_type, c.status)
            return {(object_type, status): count for object_type, status, count in connection.execute(query)}

    def problem_rows(self, catalog: str, system: str, statuses: Sequence[str], limit: int) -> list[dict[str, Any]]:
        """The first `limit` rows in one of `statuses`, oldest problem first, for the failed-rows check."""
        c = mappings.c
        query = select(mappings).where(*self._mine(catalog, system), c.status.in_(list(statuses))) \
            .order_by(c.updated_at, c.internal_id).limit(limit)
        with self.engine.connect() as connection:
            return [dict(row._mapping) for row in connection.execute(query)]

    def due_retries(self, catalog: str, system: str, now: dt.datetime | None = None,
                    limit: int = 1000) -> list[str]:
        """Rows the retry automation should sync now: transient failures whose retry time has come, and rows
        left `pending` by a run that died (their intent is older than any live run would leave it)."""
        c = mappings.c
        now = now or _now()
        transient = (c.status == FAILED) & (c.failure_kind == TRANSIENT) & (c.next_retry_at <= now)
        orphaned = (c.status == PENDING) & (c.updated_at <= now - STALE_PENDING)
        query = select(c.internal_id).distinct().where(*self._mine(catalog, system),
                                                       transient | orphaned).order_by(c.internal_id).limit(limit)
        with self.engine.connect() as connection:
            return list(connection.execute(query).scalars())

    def next_retry(self, catalog: str, system: str) -> dt.datetime | None:
        """The earliest scheduled automatic retry of a transient failure, or None when none is scheduled."""
        c = mappings.c
        query = select(func.min(c.next_retry_at)).where(*self._mine(catalog, system),
                                                        c.status == FAILED, c.failure_kind == TRANSIENT)
        with self.engine.connect() as connection:
            found = connection.execute(query).scalar()
        return found.replace(tzinfo=dt.timezone.utc) if found is not None and found.tzinfo is None else found

    def mapped_ids(self, catalog: str, system: str, chunk_size: int = CHUNK) -> Iterator[list[str]]:
        """Internal ids with a mapping not yet deleted (an external object, or a failure to retire), in chunks."""
        return self.ids_where(catalog, system, mappings.c.status != DELETED, chunk_size)

    def ids_where(self, catalog: str, system: str, condition: Any, chunk_size: int = CHUNK) -> Iterator[list[str]]:
        """Distinct internal ids with a mapping row matching `condition`, in id order and in chunks (keyset
        pagination: each chunk is one indexed range read, however many rows there are)."""
        c = mappings.c
        last = None
        with self.engine.connect() as connection:
            while True:
                query = select(c.internal_id).distinct().where(*self._mine(catalog, system), condition) \
                    .order_by(c.internal_id).limit(chunk_size)
                if last is not None:
                    query = query.where(c.internal_id > last)
                ids = list(connection.execute(query).scalars())
                if not ids:
                    return
                yield ids
                last = ids[-1]

    # -- writes ------------------------------------------------------------------------------------------------
    # Each write stages only what varies per row; the rest of a new row is the same for the whole call and bound
    # once (see bulkwrite). (catalog, system) is shared by every item of a call in practice, but not by contract:
    # items are grouped by it, one set-based statement per group. Rows are read off the items with `attrgetter`,
    # which builds the tuples in C.
    def _upsert(self, connection: Any, items: Iterable[Operation | Outcome], columns: Sequence[str],
                row: Callable[[Any], tuple[Any, ...]], constants: dict[str, Any], update: dict[str, Any]) -> None:
        """Upsert one mapping row per item: `row` gives the item's values of `columns` (the key's internal id and
        object type first), `constants` the other columns of a new row."""
        for (catalog, system), group in _last_per_key(items).items():
            bulkwrite.upsert(connection, mappings, KEY, columns, map(row, group), update,
                             {"tenant": self.tenant, "catalog": catalog, "system": system, **constants})

    @staticmethod
    def _fresh(run_id: str, now: dt.datetime, columns: Sequence[str], **values: Any) -> dict[str, Any]:
        """A new row's values of the columns not staged (not the key, not `columns`): pending in this run,
        changed by `values`."""
        fresh = {"external_id": None, "fingerprint": None, "status": PENDING, "last_error_code": None,
                 "last_error_field": None, "last_error": None, "attempts": 0, "last_run_id": run_id,
                 "created_at": now, "updated_at": now, "synced_at": None, "failure_kind": None,
                 "next_retry_at": None, "write_seq": 0, "field_base": None, "pending_base": None} | values
        return {name: value for name, value in fresh.items() if name not in columns}

    def record_intents(self, run_id: str, operations: Sequence[Operation]) -> None:
        """Mark rows as in flight before any external call, so a crash leaves a trace the next run acts on; each
        with its write sequence number, which a rerun of the same intent reuses for the same key, and the values an
        update writes (`pending_base`), which the merge knows as zensync's own until the outcome is recorded."""
        now = _now()
        columns = ("internal_id", "object_type", "external_id", "write_seq", "pending_base")
        with self.engine.begin() as connection:
            self._upsert(connection, operations, columns, attrgetter("internal_id", "object_type", "external_id",
                                                                     "seq", "pending"),
                         self._fresh(run_id, now, columns),
                         {"status": PENDING, "last_run_id": run_id, "updated_at": now,
                          "write_seq": lambda x: x.write_seq, "pending_base": lambda x: x.pending_base})

    def record_outcomes(self, run_id: str, outcomes: Sequence[Outcome], deferred: Sequence[Operation] = (),
                        spec: Optional[CatalogSpec] = None) -> None:
        """One transaction per batch: mapping rows and their events land together or not at all, and with them
        the values the system's answers carried for the catalog's rows (`spec`'s table, engine/write_back.py)."""
        now = _now()
        applied: list[Outcome] = []
        failed: list[Outcome] = []
        verdicts: list[Outcome] = []
        for o in outcomes:  # one pass, in order: the last outcome of a key wins within each kind
            (applied if o.ok else failed if o.status == FAILED else verdicts).append(o)

        def keep_external_id(x: Any) -> Any:
            # An outcome without an external id must not wipe the one the row already has.
            return func.coalesce(x.external_id, mappings.c.external_id)

        def schedule(o: Outcome) -> tuple[Any, ...]:
            # `o.attempt` is this attempt's number, so the wait grows with every failed try of the row.
            return (o.internal_id, o.object_type, o.external_id, o.error_code, o.error_field, o.error_message,
                    TRANSIENT if o.transient else PERMANENT, next_retry_at(o.attempt, now) if o.transient else None)

        with self.engine.begin() as connection:
            # The base moves with the fingerprint, in the same statement: a confirmed write's payload is what the
            # system holds (engine/merge.py), and nothing of it is in flight any more. A failed write keeps its
            # pending base: a dropped connection may have reached the system as a kill does.
            columns = ("internal_id", "object_type", "external_id", "fingerprint", "status", "field_base")
            self._upsert(connection, applied, columns, attrgetter(*columns[:-1], "base"),
                         self._fresh(run_id, now, columns, synced_at=now), {
                "status": lambda x: x.status, "external_id": keep_external_id,
                "fingerprint": lambda x: x.fingerprint, "field_base": lambda x: x.field_base, "pending_base": None,
                "attempts": 0,
                "last_error_code": None,
                "last_error_field": None, "last_error": None, "last_run_id": run_id, "updated_at": now,
                "synced_at": now, "failure_kind": None, "next_retry_at": None,
            })
            columns = ("internal_id", "object_type", "external_id", *ERRORS, "failure_kind", "next_retry_at")
            self._upsert(connection, failed, columns, schedule,
                         self._fresh(run_id, now, columns, status=FAILED, attempts=1), {
                "status": FAILED, "attempts": mappings.c.attempts + 1, "external_id": keep_external_id,
                "last_error_code": lambda x: x.last_error_code, "last_error_field": lambda x: x.last_error_field,
                "last_error": lambda x: x.last_error, "last_run_id": run_id, "updated_at": now,
                "failure_kind": lambda x: x.failure_kind, "next_retry_at": lambda x: x.next_retry_at,
            })
            columns = ("internal_id", "object_type", "external_id", "status", *ERRORS)
            self._upsert(connection, verdicts, columns,
                         attrgetter("internal_id", "object_type", "external_id", "status", *OUTCOME_ERRORS),
                         self._fresh(run_id, now, columns), {
                "status": lambda x: x.status, "last_error_code": lambda x: x.last_error_code,
                "last_error_field": lambda x: x.last_error_field, "last_error": lambda x: x.last_error,
                "last_run_id": run_id, "updated_at": now, "failure_kind": None, "next_retry_at": None,
            })
            # The log keeps every attempt, in the order given; only the run and its time are the same for all.
            events = map(attrgetter("catalog", "internal_id", "system", "object_type", "action", "status",
                                    *OUTCOME_ERRORS, "attempt"), outcomes)
            held = ((op.catalog, op.internal_id, op.system, op.object_type, op.action, "deferred", None, None, None,
                     op.attempt) for op in deferred)
            bulkwrite.append(connection, sync_events, EVENT_COLUMNS, itertools.chain(events, held),
                             {"run_id": run_id, "occurred_at": now, "tenant": self.tenant})
            backs = [(o.internal_id, o.write_back) for o in applied if o.write_back is not None]
            if spec is not None and backs:
                CatalogTables(self.engine, self.tenant).write_back(connection, spec, backs)

    def events(self, catalog: str, system: str, run_id: str | None = None) -> list[dict[str, Any]]:
        c = sync_events.c
        conditions = [c.tenant == self.tenant, c.catalog == catalog, c.system == system] + \
            ([c.run_id == run_id] if run_id else [])
        with self.engine.connect() as connection:
            return [dict(r._mapping) for r in connection.execute(select(sync_events).where(*conditions)
                                                                 .order_by(c.id))]

    # -- settled rows (engine/settled.py) ---------------------------------------------------------------------
    def settle(self, catalog: str, system: str, row_digests: dict[str, str]) -> None:
        with self.engine.begin() as connection:
            digests.store(connection, catalog, system, row_digests, self.tenant)

    def unsettle(self, catalog: str, system: str, internal_ids: Sequence[str]) -> None:
        with self.engine.begin() as connection:
            digests.forget(connection, catalog, system, internal_ids, self.tenant)
