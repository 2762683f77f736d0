"""sObject REST: describe, CRUD by id, upsert/retrieve/delete by external id, replication and limits."""

from __future__ import annotations

from typing import Any

from zensync_pipelines.sandbox.core import Request, Response

from .errors import ApiError, RecordError, not_found
from .host import SalesforceHost
from .schema import SObject
from .values import now_iso, parse_datetime
from .views import render
from .writes import MultipleMatches, UnknownExternalField


P = "/services/data/{version}"
UPDATED_WINDOW_DAYS, DELETED_WINDOW_DAYS = 30, 15


class RestRoutes:
    def __init__(self, sb: SalesforceHost):
        self.sb = sb
        add = sb.router.add
        add("GET", P + "/sobjects", self.describe_global)
        add("GET", P + "/limits", self.limits)
        add("GET", P + "/sobjects/{sobject}/describe", self.describe)
        add("GET", P + "/sobjects/{sobject}/updated", self.updated)
        add("GET", P + "/sobjects/{sobject}/deleted", self.deleted)
        add("GET", P + "/sobjects/{sobject}", self.basic_info)
        add("POST", P + "/sobjects/{sobject}", self.create)
        add("GET", P + "/sobjects/{sobject}/{record_id}", self.retrieve)
        add("PATCH", P + "/sobjects/{sobject}/{record_id}", self.update)
        add("DELETE", P + "/sobjects/{sobject}/{record_id}", self.delete)
        add("GET", P + "/sobjects/{sobject}/{field}/{value}", self.retrieve_by_external_id)
        add("PATCH", P + "/sobjects/{sobject}/{field}/{value}", self.upsert)
        add("DELETE", P + "/sobjects/{sobject}/{field}/{value}", self.delete_by_external_id)

    def sobject(self, request: Request) -> SObject:
        found = self.sb.schema.get(request.params["sobject"])
        if found is None:
            raise not_found()
        return found

    # -- describe ----------------------------------------------------------------------------------------------
    def describe_global(self, request: Request) -> Response:
        version = request.params["version"]
        objects = [o.summary(version) for o in self.sb.schema.objects.values()]
        return Response(body={"encoding": "UTF-8", "maxBatchSize": 200, "sobjects": objects})

    def describe(self, request: Request) -> Response:
        return Response(body=self.sobject(request).describe(request.params["version"]))

    def basic_info(self, request: Request) -> Response:
        return Response(body={"objectDescribe": self.sobject(request).summary(request.params["version"]),
                              "recentItems": []})

    def limits(self, request: Request) -> Response:
        allocation = self.sb.allocation
        batches = self.sb.bulk.batches_today()
        return Response(body={
            "DailyApiRequests": {"Max": allocation.limit, "Remaining": max(0, allocation.limit - allocation.used())},
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000 - batches},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
            "DataStorageMB": {"Max": 1024, "Remaining": 1024},
        })

    # -- single records ----------------------------------------------------------------------------------------
    def create(self, request: Request) -> Response:
        sobject = self.sobject(request)
        record_id = self._write(request, lambda: self.sb.writer.create(sobject, _body(request)))
        return Response(201, {"id": record_id, "success": True, "errors": []})

    def retrieve(self, request: Request) -> Response:
        sobject = self.sobject(request)
        found_type, record = self.sb.store.get(request.params["record_id"])
        if record is None or found_type is not sobject or record["IsDeleted"]:
            raise not_found()
        return Response(body=self._view(request, sobject, record))

    def update(self, request: Request) -> Response:
        sobject = self.sobject(request)
        self._write(request, lambda: self.sb.writer.update(sobject, request.params["record_id"], _body(request)), True)
        return Response(204)

    def delete(self, request: Request) -> Response:
        sobject = self.sobject(request)
        self._write(request, lambda: self.sb.writer.delete(request.params["record_id"], sobject), True)
        return Response(204)

    # -- by external id ----------------------------------------------------------------------------------------
    def upsert(self, request: Request) -> Response:
        sobject = self.sobject(request)
        field, value = request.params["field"], request.params["value"]
        record_id, created = self._write(request, lambda: self.sb.writer.upsert(sobject, field, value, _body(request)))
        # API 46.0+ answers an update with 200 and the same body as a create (older versions: 204, no body).
        return Response(201 if created else 200, {"id": record_id, "success": True, "errors": [], "created": created})

    def retrieve_by_external_id(self, request: Request) -> Response:
        sobject = self.sobject(request)
        record_id = self._single_match(request, sobject)
        _, record = self.sb.store.get(record_id)
        return Response(body=self._view(request, sobject, record))

    def delete_by_external_id(self, request: Request) -> Response:
        sobject = self.sobject(request)
        record_id = self._single_match(request, sobject)
        self._write(request, lambda: self.sb.writer.delete(record_id, sobject), True)
        return Response(204)

    def _single_match(self, request: Request, sobject: SObject) -> str:
        def find() -> str:
            f = self.sb.writer.external_field(sobject, request.params["field"])
            matches = self.sb.store.find(sobject, f.name, request.params["value"])
            if len(matches) > 1:
                raise MultipleMatches(sobject, matches)
            if not matches:
                raise not_found()
            return matches[0]

        return self._write(request, find)

    def _write(self, request: Request, action: Any, missing_is_404: bool = False) -> Any:
        """Maps the writer's outcomes to the single-record REST answers."""
        version = request.params["version"]
        try:
            return action()
        except MultipleMatches as multiple:
            urls = [f"/services/data/{version}/sobjects/{multiple.sobject.name}/{i}" for i in multiple.ids]
            raise _MultipleChoices(urls) from None
        except UnknownExternalField as unknown:
            raise ApiError(404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: "
                                             f"{unknown}") from None
        except RecordError as error:
            if missing_is_404 and error.errors[0][0] in ("MALFORMED_ID", "INVALID_CROSS_REFERENCE_KEY"):
                raise not_found() from None
            if missing_is_404 and error.errors[0][0] == "ENTITY_IS_DELETED":
                raise ApiError(404, "ENTITY_IS_DELETED", "entity is deleted", []) from None
            raise _RecordFailure(error) from None

    def _view(self, request: Request, sobject: SObject, record: Any) -> dict[str, Any]:
        wanted = request.query.get("fields")
        fields = ["Id"] + [f.strip() for f in wanted[-1].split(",") if f.strip()] if wanted else None
        return render(sobject, record, request.params["version"], fields)

    # -- replication -------------------------------------------------------------------------------------------
    def updated(self, request: Request) -> Response:
        sobject = self.sobject(request)
        start, end, covered = self._window(request, UPDATED_WINDOW_DAYS)
        ids = [r["Id"] for r in self.sb.store.rows(sobject.name) if start <= r["_modstamp"] < end]
        return Response(body={"ids": ids, "latestDateCovered": now_iso(covered)})

    def deleted(self, request: Request) -> Response:
        sobject = self.sobject(request)
        start, end, covered = self._window(request, DELETED_WINDOW_DAYS)
        gone = [r for r in self.sb.store.rows(sobject.name, include_deleted=True) if r["IsDeleted"]]
        in_window = [r for r in gone if start <= r["_deleted"] < end]
        earliest = min((r["_deleted"] for r in gone), default=self.sb.clock() - DELETED_WINDOW_DAYS * 86400)
        return Response(body={
            "deletedRecords": [{"id": r["Id"], "deletedDate": now_iso(r["_deleted"])} for r in in_window],
            "earliestDateAvailable": now_iso(_minute(earliest)),
            "latestDateCovered": now_iso(covered),
        })

    def _window(self, request: Request, days: int) -> tuple[float, float, float]:
        """The API ignores seconds, wants start < end, and keeps a limited history (30 days updated, 15 deleted)."""
        bounds = []
        for name in ("start", "end"):
            text = (request.query.get(name) or [""])[-1]
            parsed = parse_datetime(text) if text else None
            if parsed is None:
                raise ApiError(400, "INVALID_REPLICATION_DATE", f"{name} is not a valid dateTime: {text!r}")
            bounds.append(_minute(parsed))
        start, end = bounds
        now = self.sb.clock()
        if start >= end:
            raise ApiError(400, "INVALID_REPLICATION_DATE", "startDate must chronologically precede endDate")
        if start < now - days * 86400:
            raise ApiError(400, "INVALID_REPLICATION_DATE", f"startDate cannot be more than {days} days ago")
        return start, end, min(end, _minute(now))


class _MultipleChoices(ApiError):
    """300 answers a list of the matching records' URLs, not the usual error list."""

    def __init__(self, urls: list[str]):
        super().__init__(300, "MULTIPLE_CHOICES", "several records match")
        self.urls = urls

    def response(self) -> Response:
        return Response(300, self.urls)


class _RecordFailure(ApiError):
    def __init__(self, error: RecordError):
        super().__init__(400, error.errors[0][0], str(error))
        self.error = error

    def response(self) -> Response:
        return Response(400, self.error.rest_body())


def _body(request: Request) -> dict[str, Any]:
    try:
        body = request.json()
    except ValueError:
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "Expected a JSON object")
    return body


def _minute(epoch: float) -> float:
    return epoch - epoch % 60
