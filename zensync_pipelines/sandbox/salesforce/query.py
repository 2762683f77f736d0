"""`/query` and `/queryAll`: SOQL evaluation over the store, and server-side cursors for `nextRecordsUrl`.

A query's result is rendered once, when it runs, and paged from that snapshot: later writes do not shift pages,
which is what a Salesforce query locator guarantees too.
"""

from __future__ import annotations

import operator as op
import re
import threading
from collections import OrderedDict
from typing import Any, Callable, Optional

from zensync_pipelines.sandbox.core import Request, Response

from .errors import ApiError, invalid_type
from .host import SalesforceHost
from .schema import Field, SObject
from .soql import Literal, Query, malformed, parse
from .store import Record
from .values import make_id, normalize_id, parse_datetime
from .views import attributes


P = "/services/data/{version}"
DEFAULT_BATCH, MIN_BATCH, MAX_OFFSET = 2000, 200, 2000
_OPERATORS = {"=": op.eq, "!=": op.ne, "<": op.lt, ">": op.gt, "<=": op.le, ">=": op.ge}
MAX_CURSORS = 10  # Salesforce keeps 10 open query cursors per user and drops the oldest


class QueryRoutes:
    def __init__(self, sb: SalesforceHost):
        self.sb = sb
        for endpoint in ("query", "queryAll"):
            sb.router.add("GET", f"{P}/{endpoint}/{{locator}}", self.more)
            sb.router.add("GET", f"{P}/{endpoint}", self.run)
        # Per org: one org's queries never evict (or read) another's cursors.
        self._cursors: dict[str, OrderedDict[str, list[dict[str, Any]]]] = {}
        self._lock = threading.Lock()
        self._sequence = 0

    def run(self, request: Request) -> Response:
        text = (request.query.get("q") or [""])[-1]
        if not text.strip():
            raise malformed("A query string is required")
        query = parse(text)
        sobject = self.sb.schema.get(query.sobject)
        if sobject is None:
            raise invalid_type(query.sobject)
        include_deleted = request.path.rstrip("/").endswith("queryAll")
        rows = self._select(sobject, query, include_deleted)
        if query.count:
            return Response(body={"totalSize": len(rows), "done": True, "records": []})
        version = request.params["version"]
        getters = [(path, self._getter(sobject, path)) for path in query.fields]
        records = [self._render(sobject, row, getters, version) for row in rows]
        return self._page(request, records, 0)

    def more(self, request: Request) -> Response:
        locator, _, start = request.params["locator"].rpartition("-")
        with self._lock:
            records = self._cursors.get(self.sb.orgs.current().id, OrderedDict()).get(locator)
        if records is None or not start.isdigit():
            raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
        return self._page(request, records, int(start), locator)

    # -- evaluation --------------------------------------------------------------------------------------------
    def _select(self, sobject: SObject, query: Query, include_deleted: bool) -> list[Record]:
        if query.offset > MAX_OFFSET:
            raise ApiError(400, "NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {MAX_OFFSET}")
        keep = self._predicate(sobject, query.where) if query.where else (lambda _: True)
        ids = _ids_in(query.where)
        with self.sb.store.lock:
            if ids is not None:  # `WHERE Id IN (...)`: the records by id, not a scan of the object per query
                found = (self.sb.store.records[sobject.name].get(i) for i in ids)
                rows = [r for r in found if r is not None and (include_deleted or not r["IsDeleted"])]
            else:
                rows = [r for r in self.sb.store.rows(sobject.name, include_deleted) if keep(r)]
            rows.sort(key=lambda r: r["Id"])  # a stable base order, like Salesforce's by-Id default
            for item in reversed(query.order):
                getter = self._getter(sobject, item.path)
                present = [r for r in rows if getter(r) is not None]
                absent = [r for r in rows if getter(r) is None]
                present.sort(key=lambda r: _sort_key(getter(r)), reverse=item.descending)
                rows = present + absent if item.nulls_last else absent + present
        end = None if query.limit is None else query.offset + query.limit
        return rows[query.offset:end]

    def _getter(self, sobject: SObject, path: str) -> Callable[[Record], Any]:
        """Resolves `Field` or `Parent.Field` against the schema once, then reads it cheaply per record."""
        chain, final = self._resolve(sobject, path)

        def read(record: Optional[Record]) -> Any:
            for lookup in chain:
                if record is None:
                    return None
                _, record = self.sb.store.get(record.get(lookup.name))
            return None if record is None else record.get(final.name)

        return read

    def _resolve(self, sobject: SObject, path: str) -> tuple[list[Field], Field]:
        *hops, last = path.split(".")
        chain, current = [], sobject
        for hop in hops:
            relation = current.relationship(hop)
            parent = self.sb.schema.get(relation.reference_to[0]) if relation else None
            if relation is None or parent is None:
                raise _no_column(path, current)
            chain.append(relation)
            current = parent
        final = current.field(last)
        if final is None:
            raise _no_column(path, current)
        return chain, final

    def _predicate(self, sobject: SObject, node: tuple) -> Callable[[Record], bool]:
        kind = node[0]
        if kind in ("and", "or"):
            parts = [self._predicate(sobject, child) for child in node[1]]
            combine = all if kind == "and" else any
            return lambda r: combine(p(r) for p in parts)
        if kind == "not":
            inner = self._predicate(sobject, node[1])
            return lambda r: not inner(r)
        getter = self._getter(sobject, node[1])
        _, f = self._resolve(sobject, node[1])
        if kind == "in":
            values, negate = node[2], node[3]
            return lambda r: any(_compare(f, getter(r), "=", v) for v in values) != negate
        if kind == "like":
            pattern = _like(node[2])
            return lambda r: isinstance(getter(r), str) and pattern.fullmatch(getter(r)) is not None
        operator, literal = node[2], node[3]
        return lambda r: _compare(f, getter(r), operator, literal)

    # -- rendering and paging ----------------------------------------------------------------------------------
    def _render(self, sobject: SObject, row: Record, getters: list, version: str) -> dict[str, Any]:
        view: dict[str, Any] = {"attributes": attributes(sobject, row["Id"], version)}
        for path, getter in getters:
            chain, final = self._resolve(sobject, path)
            target, record = view, row
            for lookup in chain:
                parent_type = self.sb.schema.get(lookup.reference_to[0])
                _, record = self.sb.store.get(record.get(lookup.name)) if record else (None, None)
                if record is None:
                    target[lookup.relationship_name] = None
                    break
                target = target.setdefault(lookup.relationship_name,
                                           {"attributes": attributes(parent_type, record["Id"], version)})
            else:
                target[final.name] = getter(row)
        return view

    def _page(self, request: Request, records: list[dict[str, Any]], start: int,
              locator: Optional[str] = None) -> Response:
        size = _batch_size(request.header("sforce-query-options"))
        end = start + size
        body: dict[str, Any] = {"totalSize": len(records), "done": end >= len(records),
                                "records": records[start:end]}
        if end < len(records):
            locator = locator or self._keep(records)
            endpoint = "queryAll" if "/queryAll" in request.path else "query"
            body["nextRecordsUrl"] = f"/services/data/{request.params['version']}/{endpoint}/{locator}-{end}"
        return Response(body=body)

    def _keep(self, records: list[dict[str, Any]]) -> str:
        with self._lock:
            self._sequence += 1
            locator = make_id("01g", "5g", self._sequence)[:15]
            cursors = self._cursors.setdefault(self.sb.orgs.current().id, OrderedDict())
            cursors[locator] = records
            while len(cursors) > MAX_CURSORS:
                cursors.popitem(last=False)
            return locator


def _batch_size(header: Optional[str]) -> int:
    found = re.search(r"batchSize\s*=\s*(\d+)", header or "")
    # The documented bounds; Salesforce may return fewer per page, never more.
    return min(DEFAULT_BATCH, max(MIN_BATCH, int(found.group(1)))) if found else DEFAULT_BATCH


def _no_column(path: str, sobject: SObject) -> ApiError:
    return ApiError(400, "INVALID_FIELD", f"No such column '{path}' on entity '{sobject.name}'. If you are attempting "
                    "to use a custom field, be sure to append the '__c' after the custom field name.")


def _ids_in(where: Optional[tuple]) -> Optional[set[str]]:
    """The ids of a where clause that is exactly `Id IN ('...', ...)` of valid ids; None for any other."""
    if not where or where[0] != "in" or where[1].lower() != "id" or where[3]:
        return None
    ids = {normalize_id(v.value) if v.kind == "string" else None for v in where[2]}
    return None if None in ids else ids  # type: ignore[return-value]


def _like(literal: Literal) -> re.Pattern[str]:
    if literal.kind != "string":
        raise malformed("LIKE needs a string literal")
    translated = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in literal.value)
    return re.compile(translated, re.IGNORECASE | re.DOTALL)


def _sort_key(value: Any) -> Any:
    return value.lower() if isinstance(value, str) else value


def _comparable(f: Field, value: Any, literal: Literal) -> tuple[Any, Any]:
    if f.type == "datetime":
        right = literal.value if literal.kind == "datetime" else parse_datetime(str(literal.value))
        return parse_datetime(value), right
    if isinstance(value, str):
        return value.lower(), str(literal.value).lower()
    if isinstance(value, bool) or literal.kind == "boolean":
        return value, literal.value
    return value, literal.value


def _compare(f: Field, value: Any, operator: str, literal: Literal) -> bool:
    if literal.kind == "null" or value is None:
        both_null = literal.kind == "null" and value is None
        return both_null if operator == "=" else (not both_null) if operator == "!=" else False
    left, right = _comparable(f, value, literal)
    try:
        return _OPERATORS[operator](left, right)
    except TypeError:
        raise malformed(f"invalid value for {f.name}: {literal.value!r}") from None
