"""sObject Collections: up to 200 upserts or deletes of one type per API call, each record answered on its own."""

from __future__ import annotations

from typing import Any, Sequence

from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession

from ...engine.types import Operation
from .connection import SalesforceConnection
from .records import RecordResult, upsert_record

MAX_RECORDS = 200


def _chunks(items: Sequence[Operation], size: int = MAX_RECORDS) -> list[Sequence[Operation]]:
    return [items[start:start + size] for start in range(0, len(items), size)]


def _send(connection: SalesforceConnection, chunk: Sequence[Operation], request: Any) -> list[RecordResult]:
    """One call for the chunk; a request that fails for good fails each of its records, not the run."""
    connection.budget.ensure(1)
    try:
        answer = connection.call(request)
    except SalesforceExpiredSession:
        raise  # credentials that cannot log in fail every call alike: let the run fail loudly
    except (SalesforceError, OSError) as error:
        return [RecordResult.request_failed(error)] * len(chunk)
    if not isinstance(answer, list) or len(answer) != len(chunk):
        failed = RecordResult(False, None, "unexpected_response", f"Salesforce answered {len(answer or [])} "
                                                                  f"results for {len(chunk)} records")
        return [failed] * len(chunk)
    return [RecordResult.from_collection(item) for item in answer]


def upsert(connection: SalesforceConnection, object_type: str, external_field: str,
           ops: Sequence[Operation]) -> list[RecordResult]:
    """Upsert on the external id, so a retry or a rerun after a crash updates instead of duplicating."""
    results: list[RecordResult] = []
    path = f"composite/sobjects/{object_type}/{external_field}"
    for chunk in _chunks(ops):
        body = {"allOrNone": False, "records": [upsert_record(op, object_type, external_field) for op in chunk]}
        results += _send(connection, chunk, lambda sf, body=body: sf.restful(path, method="PATCH", json=body))
    return results


def delete(connection: SalesforceConnection, ops: Sequence[Operation]) -> list[RecordResult]:
    results: list[RecordResult] = []
    for chunk in _chunks(ops):
        params = {"ids": ",".join(str(op.external_id) for op in chunk), "allOrNone": "false"}
        results += _send(connection, chunk,
                         lambda sf, params=params: sf.restful("composite/sobjects", method="DELETE", params=params))
    return results
