"""The org's records: one re-entrant lock, an index on external ids, and savepoints for all-or-none requests.

Records are never mutated in place; every write replaces the dict. That makes a savepoint cheap (it keeps the
previous dict of each touched id) and lets readers hand out records without copying them under the lock.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Optional

from .schema import Schema, SObject
from .values import make_id, normalize_id

Record = dict[str, Any]
POD = "5g"  # the two instance characters after the key prefix; fixed so ids are reproducible


class Savepoint:
    def __init__(self, store: "Store"):
        self.store = store
        self.before: dict[str, Optional[Record]] = {}  # id -> record before the first write since the savepoint

    def rollback(self) -> None:
        self.store._restore(self.before)
        self.before = {}


class Store:
    def __init__(self, schema: Schema, pod: str = POD):
        self.schema = schema
        self.pod = pod  # each org of a multi-org sandbox has its own, so record ids never repeat across orgs
        self.lock = threading.RLock()
        self.records: dict[str, dict[str, Record]] = {name: {} for name in schema.objects}
        self.sequence = 0
        self._index: dict[tuple[str, str, str], set[str]] = {}
        self._savepoints: list[Savepoint] = []
        self.on_change: Callable[[], None] = lambda: None
        # Called with each committed write, like a workflow rule after commit: inside an all-or-none request the
        # writes wait for its end, and one the request rolled back is never reported.
        self.on_write: Callable[[SObject, Record], None] = lambda sobject, record: None
        self._uncommitted: list[tuple[SObject, Record]] = []

    # -- reads -------------------------------------------------------------------------------------------------
    def get(self, record_id: Any) -> tuple[Optional[SObject], Optional[Record]]:
        normal = normalize_id(record_id)
        sobject = self.schema.by_prefix(normal) if normal else None
        if sobject is None:
            return None, None
        return sobject, self.records[sobject.name].get(normal)

    def rows(self, name: str, include_deleted: bool = False) -> list[Record]:
        with self.lock:
            return [r for r in self.records[name].values() if include_deleted or not r["IsDeleted"]]

    def find(self, sobject: SObject, field_name: str, value: Any) -> list[str]:
        """Ids of live records whose `field_name` equals `value` (external ids compare case-insensitively)."""
        if value is None:
            return []
        f = sobject.field(field_name)
        if f is None:
            return []
        if f.name == "Id":
            _, record = self.get(value)
            return [record["Id"]] if record and not record["IsDeleted"] else []
        if f.external_id:
            return sorted(self._index.get((sobject.name, f.name, _key(value)), ()))
        return [r["Id"] for r in self.rows(sobject.name) if r.get(f.name) == value]

    # -- writes ------------------------------------------------------------------------------------------------
    def new_id(self, sobject: SObject) -> str:
        with self.lock:
            self.sequence += 1
            return make_id(sobject.key_prefix, self.pod, self.sequence)

    def put(self, sobject: SObject, record: Record) -> None:
        with self.lock:
            previous = self.records[sobject.name].get(record["Id"])
            for savepoint in self._savepoints:
                savepoint.before.setdefault(record["Id"], previous)
            self._unindex(sobject, previous)
            self.records[sobject.name][record["Id"]] = record
            self._reindex(sobject, record)
            if self._savepoints:
                self._uncommitted.append((sobject, record))
            else:
                self.on_write(sobject, record)
        self.on_change()

    @contextmanager
    def savepoint(self) -> Iterator[Savepoint]:
        """Holds the lock throughout, so an all-or-none request is atomic for other clients too."""
        with self.lock:
            savepoint = Savepoint(self)
            self._savepoints.append(savepoint)
            try:
                yield savepoint
            finally:
                self._savepoints.remove(savepoint)
                if not self._savepoints:
                    written, self._uncommitted = self._uncommitted, []
                    for sobject, record in written:
                        # records are replaced, never mutated: a rolled-back write is no longer the stored one
                        if self.records[sobject.name].get(record["Id"]) is record:
                            self.on_write(sobject, record)

    def _restore(self, before: dict[str, Optional[Record]]) -> None:
        with self.lock:
            for record_id, record in before.items():
                sobject = self.schema.by_prefix(record_id)
                assert sobject is not None
                self._unindex(sobject, self.records[sobject.name].get(record_id))
                if record is None:
                    self.records[sobject.name].pop(record_id, None)
                else:
                    self.records[sobject.name][record_id] = record
                    self._reindex(sobject, record)
        self.on_change()

    def _reindex(self, sobject: SObject, record: Optional[Record]) -> None:
        # Deleted records sit in the recycle bin: they neither match an upsert nor block a unique value.
        if record is None or record["IsDeleted"]:
            return
        for f in sobject.fields.values():
            if f.external_id and record.get(f.name) is not None:
                self._index.setdefault((sobject.name, f.name, _key(record[f.name])), set()).add(record["Id"])

    def _unindex(self, sobject: SObject, record: Optional[Record]) -> None:
        if record is None:
            return
        for f in sobject.fields.values():
            if f.external_id and record.get(f.name) is not None:
                self._index.get((sobject.name, f.name, _key(record[f.name])), set()).discard(record["Id"])

    # -- persistence -------------------------------------------------------------------------------------------
    def dump(self) -> dict[str, Any]:
        with self.lock:
            return {"sequence": self.sequence, "records": {k: list(v.values()) for k, v in self.records.items()}}

    def load(self, state: dict[str, Any]) -> None:
        with self.lock:
            self.sequence = int(state.get("sequence", 0))
            for name, rows in state.get("records", {}).items():
                sobject = self.schema.get(name)
                if sobject is None:
                    continue  # an object dropped from the schema file: its rows are not reachable any more
                for record in rows:
                    self.records[sobject.name][record["Id"]] = record
                    self._reindex(sobject, record)


def _key(value: Any) -> str:
    return str(value).lower()
