"""The inbound job's reads and writes: object history from the inbox, links from the mapping table, and one
transaction per batch in which catalog rows, mappings and the events' results are written together."""

from __future__ import annotations

import contextlib
import datetime as dt
from typing import Any, Iterator, Optional, Sequence

from sqlalchemy import Engine, and_, case, func, select, update
from sqlalchemy.exc import DataError, IntegrityError

from ..engine.inbound.types import RowRefused
from ..engine.spec import CatalogSpec
from ..engine.types import DELETED, SYNCED, UNLINKED, MappingState
from . import digests
from .catalog import CatalogTables
from .inbox import APPLIED, FAILED, IGNORED, PENDING, EventResult, InboxStore
from .inbox_envelopes import Split, split_envelopes
from .mappings import CHUNK, _chunks
from .state import DEFAULT_TENANT
from .tables import conflicts, inbound_events, mappings, sync_events

UNLINK_EVENT = "unlink"  # the sync-event operation recorded when a system's delete unlinks a row


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


class InboundWriter:
    """Everything written while applying one batch, on one connection inside one transaction."""

    def __init__(self, tables: "InboundTables", connection: Any):
        self.tables, self.connection = tables, connection

    def claim(self, ids: Sequence[int]) -> set[int]:
        """The events still due (not taken by an overlapping run), locked until the commit on PostgreSQL."""
        c = inbound_events.c
        query = select(c.id).where(c.id.in_(list(ids)), c.status.in_([PENDING, FAILED]))
        if self.connection.dialect.name == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return set(self.connection.execute(query).scalars())

    def rows(self, spec: CatalogSpec, internal_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        found = self.tables.catalog.read(self.connection, spec, list(internal_ids), lock=True) if internal_ids else []
        return {str(row[spec.primary_key]): row for row in found}

    def links(self, catalog: str, system: str, object_type: str, external_ids: Sequence[str],
              internal_ids: Sequence[str]) -> tuple[dict[str, tuple[str, MappingState]], dict[str, MappingState]]:
        """Mappings by external id, and by internal id (for objects known only by their tag)."""
        c = mappings.c
        columns = (c.internal_id, c.external_id, c.fingerprint, c.status, c.attempts, c.write_seq, c.field_base,
                   c.pending_base)
        by_external: dict[str, tuple[str, MappingState]] = {}
        by_internal: dict[str, MappingState] = {}
        base = and_(c.tenant == self.tables.tenant, c.catalog == catalog, c.system == system,
                    c.object_type == object_type)
        for chunk in _chunks(list(external_ids)):
            for internal_id, external_id, *known in self.connection.execute(
                    select(*columns).where(base, c.external_id.in_(chunk))):
                by_external[external_id] = (internal_id, MappingState(external_id, *known))
        for chunk in _chunks(list(internal_ids)):
            for internal_id, external_id, *known in self.connection.execute(
                    select(*columns).where(base, c.internal_id.in_(chunk))):
                by_internal[internal_id] = MappingState(external_id, *known)
        return by_external, by_internal

    def linked_elsewhere(self, catalogs: Sequence[str], system: str, object_type: str,
                         external_ids: Sequence[str]) -> dict[str, str]:
        """External id -> which of `catalogs` has a mapping holding it (any status: a deleted or unlinked object
        is still that catalog's history, never another's to import). One indexed query per chunk."""
        c = mappings.c
        found: dict[str, str] = {}
        for chunk in _chunks(list(external_ids)):
            query = select(c.external_id, c.catalog).where(
                c.tenant == self.tables.tenant, c.system == system, c.object_type == object_type,
                c.catalog.in_(list(catalogs)), c.external_id.in_(chunk))
            found.update({row.external_id: row.catalog for row in self.connection.execute(query)})
        return found

    def external_ids(self, catalog: str, system: str, object_type: str,
                     internal_ids: Sequence[str]) -> dict[str, str]:
        """As MappingStore.external_ids, in this transaction (the engine resolves references with it)."""
        c = mappings.c
        found: dict[str, str] = {}
        for chunk in _chunks(list(internal_ids)):
            query = select(c.internal_id, c.external_id).where(
                c.tenant == self.tables.tenant, c.catalog == catalog, c.system == system,
                c.object_type == object_type, c.internal_id.in_(chunk),
                c.external_id.is_not(None), c.status.not_in([DELETED, UNLINKED]))
            found.update({row.internal_id: row.external_id for row in self.connection.execute(query)})
        return found

    @contextlib.contextmanager
    def savepoint(self) -> Iterator[None]:
        """A nested transaction: a write the database refuses fails its event (RowRefused), not the batch. SQLite
        needs none (a failed statement undoes itself, the transaction goes on; pysqlite's SAVEPOINTs are
        unreliable)."""
        nested = None if self.connection.dialect.name == "sqlite" else self.connection.begin_nested()
        try:
            yield
        except (DataError, IntegrityError) as refused:
            if nested is not None:
                nested.rollback()
            raise RowRefused(f"{type(refused.orig).__name__}: {refused.orig}"[:500]) from None
        if nested is not None:
            nested.commit()

    def update_row(self, spec: CatalogSpec, internal_id: str, values: dict[str, Any]) -> None:
        table = self.tables.catalog.table(spec)
        key = table.c[spec.primary_key]
        self.connection.execute(update(table).where(key == key.type.python_type(internal_id),
                                                    *self.tables.catalog.mine(spec, table)).values(**values))

    def insert_row(self, spec: CatalogSpec, values: dict[str, Any]) -> str:
        table = self.tables.catalog.table(spec)
        key = table.c[spec.primary_key]
        values = {**values, **self.tables.catalog.tenant_values(spec)}  # the row is its tenant's
        # SQLite numbers a lone INTEGER key itself (the rowid); a key shared with a tenant column it does not.
        rowid = self.connection.dialect.name == "sqlite" and len(table.primary_key.columns) == 1
        if spec.primary_key not in values and key.server_default is None and key.identity is None and not rowid:
            # A key the application assigns (the demo's customers.id has no sequence): the next free one, over
            # every tenant's rows, so it is free whether the table's key is the id alone or (tenant, id). A
            # concurrent insert of the same id is refused and the event retries.
            values = {**values, spec.primary_key: (self.connection.execute(
                select(func.coalesce(func.max(key), 0))).scalar() or 0) + 1}
        inserted = self.connection.execute(table.insert().values(**values).returning(key))
        return str(inserted.scalar_one())

    def set_mapping(self, catalog: str, system: str, object_type: str, internal_id: str, **values: Any) -> None:
        """Change one mapping row (creating it for an imported object)."""
        now = _now()
        c = mappings.c
        tenant = self.tables.tenant
        where = and_(c.tenant == tenant, c.catalog == catalog, c.system == system, c.object_type == object_type,
                     c.internal_id == internal_id)
        digests.forget(self.connection, catalog, system, [internal_id], tenant)  # the next outbound run plans the row
        changed = self.connection.execute(update(mappings).where(where).values(updated_at=now, **values)).rowcount
        if not changed:
            self.connection.execute(mappings.insert().values(
                tenant=tenant, catalog=catalog, system=system, object_type=object_type, internal_id=internal_id,
                created_at=now, updated_at=now, attempts=0, **values))

    def record_conflicts(self, rows: list[dict[str, Any]]) -> None:
        """Same-field conflicts the merge settled (engine/merge.py), with the batch's catalog writes."""
        now = _now()
        self.connection.execute(conflicts.insert(), [{"tenant": self.tables.tenant, "recorded_at": now, **row}
                                                     for row in rows])

    def unlinks(self, catalog: str, system: str, object_type: str, internal_id: str) -> int:
        """How often a system's delete unlinked this row's object: the number of the next unlink event."""
        c = sync_events.c
        return int(self.connection.execute(select(func.count()).where(
            c.tenant == self.tables.tenant, c.catalog == catalog, c.system == system, c.object_type == object_type,
            c.internal_id == internal_id, c.operation == UNLINK_EVENT)).scalar() or 0)

    def log_unlink(self, run_id: str, catalog: str, system: str, object_type: str, internal_id: str,
                   attempt: int, reason: str) -> None:
        self.connection.execute(sync_events.insert().values(
            run_id=run_id, tenant=self.tables.tenant, catalog=catalog, internal_id=internal_id, system=system,
            object_type=object_type, operation=UNLINK_EVENT, outcome="deleted", error_message=reason, attempt=attempt,
            occurred_at=_now()))

    def mark(self, results: Sequence[EventResult]) -> None:
        self.tables.inbox.mark(self.connection, results)


class InboundTables:
    def __init__(self, engine: Engine, tenant: str = DEFAULT_TENANT):
        self.engine, self.tenant = engine, tenant
        self.inbox = InboxStore(engine, tenant)
        self.catalog = CatalogTables(engine, tenant)

    def due(self, catalog: str, system: str, limit: int, after_id: int = 0) -> list[dict[str, Any]]:
        return self.inbox.due(catalog, system, limit=limit, after_id=after_id)

    def split_envelopes(self, catalog: str, system: str, split: Split) -> int:
        return split_envelopes(self.inbox, catalog, system, split)

    def history(self, system: str, object_type: str, external_ids: Sequence[str],
                delete_types: frozenset[str]) -> dict[str, tuple[Optional[dt.datetime], bool]]:
        """Per object: the newest time among its processed events, and whether one of them was a delete."""
        c = inbound_events.c
        deleted = func.max(case((c.event_type.in_(sorted(delete_types) or [""]), 1), else_=0))
        found: dict[str, tuple[Optional[dt.datetime], bool]] = {}
        with self.engine.connect() as connection:
            for chunk in _chunks(list(external_ids), CHUNK):
                query = select(c.external_id, func.max(c.occurred_at), deleted).where(
                    c.tenant == self.tenant, c.system == system, c.object_type == object_type,
                    c.external_id.in_(chunk), c.status.in_([APPLIED, IGNORED])).group_by(c.external_id)
                for external_id, newest, was_deleted in connection.execute(query):
                    found[external_id] = (newest, bool(was_deleted))
        return found

    def failed_events(self, catalog: str, system: str, limit: int) -> list[dict[str, Any]]:
        """The oldest failed events with their reasons, for the backlog check's table."""
        c = inbound_events.c
        query = select(c.event_id, c.object_type, c.external_id, c.outcome, c.last_error, c.attempts).where(
            c.tenant == self.tenant, c.catalog == catalog, c.system == system, c.status == FAILED) \
            .order_by(c.id).limit(limit)
        with self.engine.connect() as connection:
            return [{"event": r.event_id, "object": f"{r.object_type} {r.external_id}", "code": r.outcome,
                     "reason": r.last_error, "attempts": r.attempts} for r in connection.execute(query)]

    def forget_fingerprint(self, catalog: str, system: str, object_type: str, internal_id: str) -> None:
        """The object drifted from what zensync wrote: the next outbound run writes the row again, whole (the base
        no longer says what the system holds)."""
        c = mappings.c
        with self.engine.begin() as connection:
            digests.forget(connection, catalog, system, [internal_id], self.tenant)
            connection.execute(update(mappings).where(
                c.tenant == self.tenant, c.catalog == catalog, c.system == system, c.object_type == object_type,
                c.internal_id == internal_id).values(fingerprint=None, field_base=None, updated_at=_now()))

    def learn_bases(self, catalog: str, system: str, object_type: str, bases: dict[str, str]) -> None:
        """Bases for mappings found in sync by the read-back (engine/drift.py), where none is kept yet."""
        c = mappings.c
        with self.engine.begin() as connection:
            for internal_id, base in bases.items():
                connection.execute(update(mappings).where(
                    c.tenant == self.tenant, c.catalog == catalog, c.system == system, c.object_type == object_type,
                    c.internal_id == internal_id, c.field_base.is_(None)).values(field_base=base))

    def synced_external_ids(self, catalog: str, system: str, object_type: str) -> dict[str, str]:
        """External id -> internal id of every synced mapping of an object type (the read-back's reference)."""
        c = mappings.c
        query = select(c.external_id, c.internal_id).where(
            c.tenant == self.tenant, c.catalog == catalog, c.system == system, c.object_type == object_type,
            c.status == SYNCED, c.external_id.is_not(None))
        with self.engine.connect() as connection:
            return dict(connection.execute(query).all())

    @contextlib.contextmanager
    def transaction(self) -> Iterator[InboundWriter]:
        with self.engine.begin() as connection:
            yield InboundWriter(self, connection)
