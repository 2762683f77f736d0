"""sObject Collections: up to 200 upserts or deletes of one type per API call, each record answered on its own.

Each function sends one call, so the adapter can record what finished before the budget guard stops a run."""

from __future__ import annotations

from typing import Any, Sequence

from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession

from ...engine.types import Operation
from .connection import SalesforceConnection
from .records import RecordResult, upsert_record

MAX_RECORDS = 200


def _send(connection: SalesforceConnection, chunk: Sequence[Operation], request: Any) -> list[RecordResult]:
    """One call for the chunk; a request that fails for good fails each of its records, not the run."""
    connection.budget.ensure(1)
    connection.breaker.check()
    try:
        answer = connection.call(request)
    except SalesforceExpiredSession:
        raise  # credentials that cannot log in fail every call alike: let the run fail loudly
    except (SalesforceError, OSError) as error:
        return connection.request_failed(error, len(chunk))
    connection.breaker.success()
    if not isinstance(answer, list) or len(answer) != len(chunk):
        failed = RecordResult(False, None, "unexpected_response", f"Salesforce answered {len(answer or [])} "
                                                                  f"results for {len(chunk)} records")
        return [failed] * len(chunk)
    return [RecordResult.from_collection(item) for item in answer]


def upsert(connection: SalesforceConnection, object_type: str, external_field: str,
           chunk: Sequence[Operation]) -> list[RecordResult]:
    """Upsert up to 200 records on the external id, so a retry or a rerun after a crash updates, never duplicates.

    allOrNone stays false: one bad record must not hold back the 199 others."""
    assert len(chunk) <= MAX_RECORDS
    path = f"composite/sobjects/{object_type}/{external_field}"
    body = {"allOrNone": False, "records": [upsert_record(op, object_type, external_field) for op in chunk]}
    return _send(connection, chunk, lambda sf: sf.restful(path, method="PATCH", json=body))


def delete(connection: SalesforceConnection, chunk: Sequence[Operation]) -> list[RecordResult]:
    assert len(chunk) <= MAX_RECORDS
    params = {"ids": ",".join(str(op.external_id) for op in chunk), "allOrNone": "false"}
    return _send(connection, chunk, lambda sf: sf.restful("composite/sobjects", method="DELETE", params=params))
