"""sObject Collections: up to 200 records of create/update/upsert/delete in one API call, with allOrNone.

Results come back in request order, one per record; with allOrNone one failure rolls every record back and the
others report ALL_OR_NONE_OPERATION_ROLLED_BACK, as Salesforce does.
"""

from __future__ import annotations

from typing import Any, Callable, Optional

from zensync_pipelines.sandbox.core import Request, Response

from .composite import CompositeRoutes
from .errors import ApiError, RecordError, invalid_type, lock_row
from .host import SalesforceHost
from .schema import SObject
from .views import render
from .writes import MultipleMatches, UnknownExternalField


P = "/services/data/{version}/composite/sobjects"
MAX_RECORDS = 200
ROLLED_BACK = {
    "statusCode": "ALL_OR_NONE_OPERATION_ROLLED_BACK",
    "message": "Record rolled back because not all records were valid and the request was using AllOrNone header",
    "fields": [],
}
Operation = Callable[[Any], tuple[str, Optional[bool]]]  # one item -> (id, created or None)


class CollectionRoutes:
    def __init__(self, sb: SalesforceHost):
        self.sb = sb
        sb.router.add("POST", P, self.create)
        sb.router.add("PATCH", P, self.update)
        sb.router.add("DELETE", P, self.delete)
        sb.router.add("GET", P + "/{sobject}", self.retrieve)
        sb.router.add("PATCH", P + "/{sobject}/{field}", self.upsert)
        self.composite = CompositeRoutes(sb)

    def create(self, request: Request) -> Response:
        all_or_none, records = self._records(request)
        return self._run(records, all_or_none, lambda r: (self.sb.writer.create(self._type_of(r), r), None))

    def update(self, request: Request) -> Response:
        all_or_none, records = self._records(request)

        def update_one(record: dict[str, Any]) -> tuple[str, None]:
            return self.sb.writer.update(self._type_of(record), record.get("Id"), record), None

        return self._run(records, all_or_none, update_one, id_of=lambda r: r.get("Id"))

    def upsert(self, request: Request) -> Response:
        sobject = self._path_type(request)
        field_name = request.params["field"]
        try:
            self.sb.writer.external_field(sobject, field_name)
        except UnknownExternalField:
            raise ApiError(404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: "
                                             f"{field_name}") from None
        all_or_none, records = self._records(request)

        def upsert_one(record: dict[str, Any]) -> tuple[str, bool]:
            value = next((v for k, v in record.items() if k.lower() == field_name.lower()), None)
            try:
                return self.sb.writer.upsert(sobject, field_name, value, record)
            except MultipleMatches as multiple:
                raise RecordError.one("DUPLICATE_EXTERNAL_ID", f"{field_name}: more than one record found for "
                                      f"external id field: {multiple.ids}", [field_name]) from None

        return self._run(records, all_or_none, upsert_one)

    def delete(self, request: Request) -> Response:
        ids = [i for i in (request.query.get("ids") or [""])[-1].split(",") if i]
        if len(ids) > MAX_RECORDS:
            raise _too_many()
        all_or_none = (request.query.get("allOrNone") or ["false"])[-1].lower() == "true"
        return self._run(ids, all_or_none, lambda i: (self.sb.writer.delete(i), None), id_of=lambda i: i)

    def retrieve(self, request: Request) -> Response:
        sobject = self._path_type(request)
        ids = [i for i in (request.query.get("ids") or [""])[-1].split(",") if i]
        fields = ["Id"] + [f for f in (request.query.get("fields") or [""])[-1].split(",") if f]
        for name in fields:
            if sobject.field(name) is None:
                raise ApiError(400, "INVALID_FIELD", f"No such column '{name}' on sobject of type {sobject.name}")
        out = []
        for record_id in ids:
            found_type, record = self.sb.store.get(record_id)
            live = record is not None and found_type is sobject and not record["IsDeleted"]
            out.append(render(sobject, record, request.params["version"], fields) if live else None)
        return Response(body=out)

    # -- shared ------------------------------------------------------------------------------------------------
    def _run(self, items: list[Any], all_or_none: bool, operation: Operation,
             id_of: Callable[[Any], Optional[str]] = lambda _: None) -> Response:
        results: list[dict[str, Any]] = []
        known_ids = [id_of(item) for item in items]
        with self.sb.store.savepoint() as savepoint:
            for item, known_id in zip(items, known_ids):
                try:
                    if self.sb.record_fault():
                        raise lock_row(known_id)
                    record_id, created = operation(item)
                    result: dict[str, Any] = {"id": record_id, "success": True, "errors": []}
                    if created is not None:
                        result["created"] = created
                except RecordError as error:
                    result = {"success": False, "errors": error.collection_errors()}
                    if known_id:
                        result["id"] = known_id
                results.append(result)
            if all_or_none and not all(r["success"] for r in results):
                savepoint.rollback()
                results = [_rolled_back(r, i) for r, i in zip(results, known_ids)]
        return Response(body=results)

    def _records(self, request: Request) -> tuple[bool, list[dict[str, Any]]]:
        body = request.json() or {}
        records = body.get("records") if isinstance(body, dict) else None
        if not isinstance(records, list):
            raise ApiError(400, "JSON_PARSER_ERROR", "The request body must hold a `records` array")
        if len(records) > MAX_RECORDS:
            raise _too_many()
        return bool(body.get("allOrNone", False)), records

    def _type_of(self, record: dict[str, Any]) -> SObject:
        name = (record.get("attributes") or {}).get("type")
        sobject = self.sb.schema.get(name) if name else None
        if sobject is None:
            raise RecordError.one("INVALID_TYPE", f"sObject type '{name}' is not supported." if name else
                                  "When creating a new record, the type attribute is required", [])
        return sobject

    def _path_type(self, request: Request) -> SObject:
        sobject = self.sb.schema.get(request.params["sobject"])
        if sobject is None:
            raise invalid_type(request.params["sobject"])
        return sobject


def _rolled_back(result: dict[str, Any], known_id: Optional[str]) -> dict[str, Any]:
    """A rolled-back create has no id any more; an update or delete still names its record."""
    if not result["success"]:
        return result
    return {"success": False, "errors": [ROLLED_BACK], **({"id": known_id} if known_id else {})}


def _too_many() -> ApiError:
    return ApiError(400, "EXCEEDED_ID_LIMIT", f"record limit reached. cannot submit more than {MAX_RECORDS} "
                                              "records into this call")
